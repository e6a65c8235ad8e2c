#include "aegis/storage_sqlite/broker_state.hpp"

#include "aegis/registry/errors.hpp"
#include "aegis/storage_sqlite/sealer.hpp"
#include "aegis/storage_sqlite/store.hpp"

#include "sqlite.hpp"

#include <string_view>

namespace aegis::storage_sqlite {
namespace {

using registry::registry_errc;

std::error_code mapped(std::error_code ec) {
  if (ec.category() != detail::sqlite_category()) {
    return ec;
  }
  if (detail::is_busy(ec)) {
    return registry_errc::storage_busy;
  }
  if (detail::is_corrupt(ec)) {
    return registry_errc::storage_corrupt;
  }
  return registry_errc::storage_failed;
}

seal_context where(std::uint8_t space, std::string_view key) {
  return {"broker_state", "value_sealed", {std::to_string(space), std::string(key)}};
}

} // namespace

result<void> sqlite_broker_state::apply(std::span<const keyed_change> changes) {
  return store_.in_transaction(
      true, [&](detail::connection& db, const column_sealer& sealer) -> result<void> {
        auto put = db.prepare("INSERT INTO broker_state (space, key, value_sealed) VALUES (?1, ?2, "
                              "?3) ON CONFLICT (space, key) DO UPDATE SET value_sealed = "
                              "excluded.value_sealed");
        auto del = db.prepare("DELETE FROM broker_state WHERE space = ?1 AND key = ?2");
        if (!put) {
          return mapped(put.error());
        }
        if (!del) {
          return mapped(del.error());
        }
        for (const auto& c : changes) {
          detail::statement& st = c.value ? *put : *del;
          st.reset();
          st.bind(1, std::int64_t{c.space}).bind_blob(2, as_bytes(c.key));
          bytes value;
          if (c.value) {
            auto s = sealer.seal(*c.value, where(c.space, c.key));
            if (!s) {
              return s.error();
            }
            value = std::move(*s);
            st.bind_blob(3, value);
          }
          if (auto r = st.run(); !r) {
            return mapped(r.error());
          }
        }
        return ok();
      });
}

result<std::vector<keyed_value>> sqlite_broker_state::load(std::uint8_t space) {
  std::vector<keyed_value> out;
  auto r = store_.in_transaction(
      false, [&](detail::connection& db, const column_sealer& sealer) -> result<void> {
        auto st =
            db.prepare("SELECT key, value_sealed FROM broker_state WHERE space = ?1 ORDER BY key");
        if (!st) {
          return mapped(st.error());
        }
        st->bind(1, std::int64_t{space});
        for (;;) {
          auto row = st->step();
          if (!row) {
            return mapped(row.error());
          }
          if (!*row) {
            return ok();
          }
          const bytes key = st->blob(0);
          keyed_value v;
          v.key.assign(key.begin(), key.end());
          auto plain = sealer.open(st->blob(1), where(space, v.key));
          if (!plain) {
            return plain.error();
          }
          const auto view = plain->view();
          v.value.assign(view.begin(), view.end());
          out.push_back(std::move(v));
        }
      });
  if (!r) {
    return r.error();
  }
  return out;
}

result<std::size_t> sqlite_broker_state::count(std::uint8_t space) {
  std::size_t n = 0;
  auto r = store_.in_transaction(
      false, [&](detail::connection& db, const column_sealer&) -> result<void> {
        auto st = db.prepare("SELECT count(*) FROM broker_state WHERE space = ?1");
        if (!st) {
          return mapped(st.error());
        }
        st->bind(1, std::int64_t{space});
        auto row = st->step();
        if (!row) {
          return mapped(row.error());
        }
        n = static_cast<std::size_t>(st->int64(0));
        return ok();
      });
  if (!r) {
    return r.error();
  }
  return n;
}

} // namespace aegis::storage_sqlite
