#include "aegis/app/sqlite_session_store.hpp"

#include <utility>
#include <vector>

namespace aegis::app {

result<void> sqlite_session_store::apply(const broker::state_journal& batch) {
  std::vector<storage_sqlite::keyed_change> changes;
  changes.reserve(batch.size());
  for (const auto& c : batch) {
    changes.push_back({static_cast<std::uint8_t>(c.space), c.key, c.value});
  }
  return state_.apply(changes);
}

result<broker::state_snapshot> sqlite_session_store::load() {
  broker::state_snapshot snap;
  for (const auto space : broker::all_state_spaces) {
    auto records = state_.load(static_cast<std::uint8_t>(space));
    if (!records) {
      return records.error();
    }
    auto& out = snap.of(space);
    out.reserve(records->size());
    for (auto& r : *records) {
      out.push_back({std::move(r.key), std::move(r.value)});
    }
  }
  return snap;
}

} // namespace aegis::app
