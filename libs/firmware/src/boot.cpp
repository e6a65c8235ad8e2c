#include "aegis/firmware/boot.hpp"

#include "le.hpp"

#include <algorithm>
#include <utility>

// Every storage access can fail (a real I/O error, or the harness cutting power); the engine
// stops at the first failure and leaves recovery to the next boot.
#define AEGIS_FW_TRY(expr)                                                                         \
  do {                                                                                             \
    if (auto try_result_ = (expr); !try_result_) {                                                 \
      return try_result_.error();                                                                  \
    }                                                                                              \
  } while (false)

namespace aegis::firmware {
namespace {

constexpr std::uint32_t nv_magic = 0x53474541; // "AEGS"
constexpr std::uint8_t nv_format_version = 1;
constexpr std::size_t nv_crc_offset = nv_record_size - 4;

std::uint32_t crc32(bytes_view data) {
  std::uint32_t crc = 0xffffffffu;
  for (const std::uint8_t b : data) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

bool all_erased(bytes_view b) {
  return std::ranges::all_of(b, [](std::uint8_t v) { return v == erased_value; });
}

std::size_t round_up(std::size_t v, std::size_t unit) {
  return (v + unit - 1) / unit * unit;
}

struct loaded_nv {
  nv_state state;
  std::optional<std::size_t> index; // copy holding `state`; none when fresh
};

result<loaded_nv> load_nv_copies(boot_storage& storage) {
  if (storage.size(boot_area::state) < nv_state_size) {
    return boot_errc::bad_geometry;
  }
  bytes buf(nv_state_size);
  AEGIS_FW_TRY(storage.read(boot_area::state, 0, buf));
  const bytes_view view(buf);
  const std::optional<nv_state> copies[2] = {decode_nv_record(view.first(nv_record_size)),
                                             decode_nv_record(view.subspan(nv_record_size))};
  if (copies[0] || copies[1]) {
    const std::size_t newest =
        !copies[1] || (copies[0] && copies[0]->sequence > copies[1]->sequence) ? 0 : 1;
    return loaded_nv{*copies[newest], newest};
  }
  // Only a torn very first write leaves one copy erased beside an unreadable one, and the
  // state before it was the fresh one, so nothing is lost by starting fresh.
  if (all_erased(view.first(nv_record_size)) || all_erased(view.subspan(nv_record_size))) {
    return loaded_nv{nv_state{}, std::nullopt};
  }
  return boot_errc::state_corrupt;
}

class engine {
public:
  engine(boot_storage& storage, const key_ring* keys, const boot_config& config)
      : st_(storage), keys_(keys), cfg_(config) {}

  result<void> open() {
    slot_size_ = st_.size(boot_area::primary);
    if (st_.size(boot_area::secondary) != slot_size_ ||
        st_.size(boot_area::state) < nv_state_size || cfg_.sector_size == 0) {
      return boot_errc::bad_geometry;
    }
    auto layout =
        trailer_layout::make(slot_size_, cfg_.write_align, cfg_.max_align, cfg_.max_sectors, false);
    if (!layout) {
      return boot_errc::bad_geometry;
    }
    layout_ = *layout;
    if (cfg_.mode == upgrade_mode::swap && st_.size(boot_area::scratch) < cfg_.sector_size) {
      return boot_errc::bad_geometry;
    }
    return load_nv();
  }

  const nv_state& nv() const noexcept { return nv_; }
  const trailer_layout& layout() const noexcept { return layout_; }

  result<bytes> read_slot(boot_area area) {
    bytes out(slot_size_);
    AEGIS_FW_TRY(st_.read(area, 0, out));
    return out;
  }

  result<trailer_state> read_trailer(boot_area area) {
    bytes tail(layout_.flags_size());
    AEGIS_FW_TRY(st_.read(area, layout_.flags_offset(), tail));
    return decode_trailer(tail, layout_);
  }

  // Signature, hash, bootable, inside the image area, and SEC_CNT >= the stored counter.
  result<verified_image> verify_slot(bytes_view slot) const {
    verify_policy policy;
    policy.require_bootable = true;
    policy.max_image_end = layout_.image_area();
    if (cfg_.require_security_counter) {
      policy.min_security_counter = nv_.security_counter;
    }
    auto verified = verify_image(slot, *keys_, policy);
    // Without a mandatory counter, an image lacking one counts as counter 0: it still cannot
    // go below what was stored.
    if (verified && verified->image.security_counter.value_or(0) < nv_.security_counter) {
      return image_errc::security_counter_rollback;
    }
    return verified;
  }

  result<boot_report> run_boot() {
    boot_report report;
    if (nv_.op != nv_operation::none) {
      report.resumed = true;
      report.action = nv_.op_type;
      AEGIS_FW_TRY(run_operation());
    } else {
      AEGIS_FW_TRY(maybe_upgrade(report));
    }
    AEGIS_FW_TRY(choose(report));
    report.nv_counter = nv_.security_counter;
    return report;
  }

  result<void> write_nv(nv_state next) {
    next.sequence = nv_.sequence + 1;
    // Never overwrite the newest valid copy: a cut mid-write then leaves the previous state.
    const std::size_t target = nv_index_ ? 1 - *nv_index_ : 0;
    AEGIS_FW_TRY(st_.write(boot_area::state, target * nv_record_size, encode_nv_record(next)));
    nv_ = next;
    nv_index_ = target;
    return ok();
  }

private:
  result<void> load_nv() {
    auto loaded = load_nv_copies(st_);
    if (!loaded) {
      return loaded.error();
    }
    nv_ = loaded->state;
    nv_index_ = loaded->index;
    return ok();
  }

  std::size_t image_extent(bytes_view slot) const {
    auto parsed = parse_image(slot, parse_options{layout_.image_area()});
    return parsed ? parsed->image_end : layout_.image_area();
  }

  result<void> maybe_upgrade(boot_report& report) {
    auto primary_trailer = read_trailer(boot_area::primary);
    if (!primary_trailer) {
      return primary_trailer.error();
    }
    auto secondary_trailer = read_trailer(boot_area::secondary);
    if (!secondary_trailer) {
      return secondary_trailer.error();
    }
    const swap_type type =
        decide_swap_type(*primary_trailer, *secondary_trailer, cfg_.mode == upgrade_mode::swap);
    if (type == swap_type::none) {
      return ok();
    }
    auto secondary = read_slot(boot_area::secondary);
    if (!secondary) {
      return secondary.error();
    }
    // The anti-rollback check applies to the incoming image on every path: TEST, PERM and the
    // old image a REVERT would bring back.
    auto verified = verify_slot(*secondary);
    if (!verified) {
      if (type == swap_type::revert && verified.error() == image_errc::empty_slot) {
        return ok(); // nothing to revert to: the primary stays as it is, still unconfirmed
      }
      report.action = swap_type::fail;
      report.refused = verified.error();
      // As MCUboot: erase the refused image so the request is not retried on every boot.
      return st_.erase(boot_area::secondary, 0, slot_size_);
    }
    report.action = type;
    nv_state next = nv_;
    next.op_type = type;
    next.phase = nv_phase::chunks;
    next.chunk = 0;
    next.step = 0;
    next.sector_size = static_cast<std::uint32_t>(cfg_.sector_size);
    next.pending_counter = verified->image.security_counter;
    if (cfg_.mode == upgrade_mode::swap) {
      auto primary = read_slot(boot_area::primary);
      if (!primary) {
        return primary.error();
      }
      const std::size_t extent = std::max(image_extent(*primary), verified->image.image_end);
      next.op = nv_operation::swap;
      next.swap_size = static_cast<std::uint32_t>(
          std::min(round_up(extent, cfg_.sector_size), layout_.image_area()));
    } else {
      next.op = nv_operation::overwrite;
      next.swap_size = static_cast<std::uint32_t>(verified->image.image_end);
    }
    AEGIS_FW_TRY(write_nv(next));
    return run_operation();
  }

  result<void> run_operation() {
    // A record that does not fit this storage can only come from a different configuration;
    // continuing would copy the wrong ranges.
    if (nv_.sector_size == 0 || nv_.swap_size == 0 || nv_.swap_size > layout_.image_area() ||
        (nv_.op == nv_operation::swap && st_.size(boot_area::scratch) < nv_.sector_size)) {
      return boot_errc::bad_geometry;
    }
    if (nv_.op == nv_operation::swap) {
      return run_swap();
    }
    return run_overwrite();
  }

  // Three idempotent steps per chunk, each redone after a cut from a source that is still
  // intact: (1) secondary -> scratch, (2) primary -> secondary, (3) scratch -> primary.
  result<void> run_swap() {
    const std::size_t sector = nv_.sector_size;
    const std::size_t total = nv_.swap_size;
    const std::size_t chunks = (total + sector - 1) / sector;
    std::size_t chunk = nv_.chunk;
    unsigned step = nv_.step;
    bytes buf;
    while (true) {
      if (step == 3) {
        ++chunk;
        step = 0;
      }
      if (chunk >= chunks) {
        break;
      }
      const std::size_t off = chunk * sector;
      const std::size_t len = std::min(sector, total - off);
      buf.resize(len);
      switch (step + 1) {
      case 1:
        AEGIS_FW_TRY(st_.read(boot_area::secondary, off, buf));
        AEGIS_FW_TRY(st_.erase(boot_area::scratch, 0, len));
        AEGIS_FW_TRY(st_.write(boot_area::scratch, 0, buf));
        break;
      case 2:
        AEGIS_FW_TRY(st_.read(boot_area::primary, off, buf));
        AEGIS_FW_TRY(st_.erase(boot_area::secondary, off, len));
        AEGIS_FW_TRY(st_.write(boot_area::secondary, off, buf));
        break;
      default:
        AEGIS_FW_TRY(st_.read(boot_area::scratch, 0, buf));
        AEGIS_FW_TRY(st_.erase(boot_area::primary, off, len));
        AEGIS_FW_TRY(st_.write(boot_area::primary, off, buf));
        break;
      }
      ++step;
      nv_state next = nv_;
      next.chunk = static_cast<std::uint32_t>(chunk);
      next.step = static_cast<std::uint8_t>(step);
      AEGIS_FW_TRY(write_nv(next));
    }
    // Trailers: the primary records what happened; the secondary (now the old image) carries no
    // request. Redone as a whole if cut, since the NV state still says "swap".
    const std::size_t area = layout_.image_area();
    AEGIS_FW_TRY(st_.erase(boot_area::primary, area, slot_size_ - area));
    AEGIS_FW_TRY(write_primary_trailer());
    AEGIS_FW_TRY(st_.erase(boot_area::secondary, area, slot_size_ - area));
    return finish_operation();
  }

  // Idempotent until the secondary is erased, which happens only after the NV state says the
  // primary is complete.
  result<void> run_overwrite() {
    if (nv_.phase == nv_phase::chunks) {
      const std::size_t sector = nv_.sector_size;
      AEGIS_FW_TRY(st_.erase(boot_area::primary, 0, slot_size_));
      bytes buf;
      for (std::size_t off = 0; off < nv_.swap_size; off += sector) {
        buf.resize(std::min<std::size_t>(sector, nv_.swap_size - off));
        AEGIS_FW_TRY(st_.read(boot_area::secondary, off, buf));
        AEGIS_FW_TRY(st_.write(boot_area::primary, off, buf));
      }
      AEGIS_FW_TRY(write_primary_trailer());
      nv_state next = nv_;
      next.phase = nv_phase::erase_secondary;
      AEGIS_FW_TRY(write_nv(next));
    }
    AEGIS_FW_TRY(st_.erase(boot_area::secondary, 0, slot_size_));
    return finish_operation();
  }

  result<void> write_primary_trailer() {
    trailer_state t;
    t.magic = magic_state::good;
    t.copy_done = flag_state::set;
    // PERM and REVERT leave a confirmed image; TEST waits for the application's confirm.
    t.image_ok = nv_.op_type == swap_type::test ? flag_state::unset : flag_state::set;
    t.swap = nv_.op_type;
    return st_.write(boot_area::primary, layout_.flags_offset(), encode_trailer(t, layout_));
  }

  result<void> finish_operation() {
    nv_state next = nv_;
    // PERM is confirmed by the request itself, so its counter is raised with the last step
    // (MCUboot raises it right after a PERM swap). TEST waits for confirm; see choose().
    if (next.op_type == swap_type::perm && next.pending_counter &&
        *next.pending_counter > next.security_counter) {
      next.security_counter = *next.pending_counter;
    }
    next.op = nv_operation::none;
    next.op_type = swap_type::none;
    next.phase = nv_phase::chunks;
    next.chunk = 0;
    next.step = 0;
    next.swap_size = 0;
    next.sector_size = 0;
    next.pending_counter.reset();
    return write_nv(next);
  }

  result<void> choose(boot_report& report) {
    auto primary = read_slot(boot_area::primary);
    if (!primary) {
      return primary.error();
    }
    auto verified = verify_slot(*primary);
    if (verified) {
      auto trailer = read_trailer(boot_area::primary);
      if (!trailer) {
        return trailer.error();
      }
      // A trailer-less ("pristine", factory-programmed) primary counts as confirmed, as
      // boot_set_confirmed treats it.
      const bool confirmed =
          trailer->image_ok == flag_state::set || trailer->magic == magic_state::unset;
      const std::uint32_t counter = verified->image.security_counter.value_or(0);
      if (confirmed && counter > nv_.security_counter) {
        nv_state next = nv_;
        next.security_counter = counter;
        AEGIS_FW_TRY(write_nv(next));
        report.counter_raised = true;
      }
      report.slot = boot_slot::primary;
      report.version = verified->image.header.version;
      report.image_security_counter = verified->image.security_counter;
      return ok();
    }
    report.primary_error = verified.error();
    auto secondary = read_slot(boot_area::secondary);
    if (!secondary) {
      return secondary.error();
    }
    auto fallback = verify_slot(*secondary);
    if (fallback) {
      report.slot = boot_slot::secondary;
      report.version = fallback->image.header.version;
      report.image_security_counter = fallback->image.security_counter;
      return ok();
    }
    report.secondary_error = fallback.error();
    report.slot = boot_slot::none;
    return ok();
  }

  boot_storage& st_;
  const key_ring* keys_;
  boot_config cfg_;
  trailer_layout layout_;
  std::size_t slot_size_ = 0;
  nv_state nv_;
  std::optional<std::size_t> nv_index_;
};

} // namespace

std::string_view to_string(boot_area area) noexcept {
  switch (area) {
  case boot_area::primary:
    return "primary";
  case boot_area::secondary:
    return "secondary";
  case boot_area::scratch:
    return "scratch";
  case boot_area::state:
    return "state";
  }
  return "unknown";
}

std::string_view to_string(upgrade_mode m) noexcept {
  return m == upgrade_mode::swap ? "swap" : "overwrite";
}

std::string_view to_string(boot_slot s) noexcept {
  switch (s) {
  case boot_slot::primary:
    return "primary";
  case boot_slot::secondary:
    return "secondary";
  case boot_slot::none:
    return "none";
  }
  return "unknown";
}

bytes encode_nv_record(const nv_state& s) {
  bytes r(nv_record_size, 0);
  detail::store_le32(r, 0, nv_magic);
  r[4] = nv_format_version;
  r[5] = static_cast<std::uint8_t>(s.op);
  r[6] = static_cast<std::uint8_t>(s.op_type);
  r[7] = static_cast<std::uint8_t>(s.phase);
  detail::store_le32(r, 8, s.sequence);
  detail::store_le32(r, 12, s.security_counter);
  detail::store_le32(r, 16, s.chunk);
  r[20] = s.step;
  detail::store_le32(r, 24, s.swap_size);
  detail::store_le32(r, 28, s.sector_size);
  detail::store_le32(r, 32, s.pending_counter.value_or(0));
  r[36] = s.pending_counter ? 1 : 0;
  detail::store_le32(r, nv_crc_offset, crc32(bytes_view(r).first(nv_crc_offset)));
  return r;
}

std::optional<nv_state> decode_nv_record(bytes_view r) {
  if (r.size() != nv_record_size || detail::load_le32(r, 0) != nv_magic ||
      r[4] != nv_format_version ||
      detail::load_le32(r, nv_crc_offset) != crc32(r.first(nv_crc_offset))) {
    return std::nullopt;
  }
  const std::uint8_t op = r[5];
  const std::uint8_t type = r[6];
  const std::uint8_t phase = r[7];
  if (op > static_cast<std::uint8_t>(nv_operation::overwrite) ||
      type < static_cast<std::uint8_t>(swap_type::none) ||
      type > static_cast<std::uint8_t>(swap_type::revert) ||
      phase > static_cast<std::uint8_t>(nv_phase::erase_secondary) || r[20] > 3 || r[36] > 1) {
    return std::nullopt;
  }
  // Only the canonical encoding is accepted: reserved bytes zero, no stray pending counter.
  const auto zero = [](bytes_view b) {
    return std::ranges::all_of(b, [](std::uint8_t v) { return v == 0; });
  };
  if (!zero(r.subspan(21, 3)) || !zero(r.subspan(37, nv_crc_offset - 37)) ||
      (r[36] == 0 && !zero(r.subspan(32, 4)))) {
    return std::nullopt;
  }
  nv_state s;
  s.op = static_cast<nv_operation>(op);
  s.op_type = static_cast<swap_type>(type);
  s.phase = static_cast<nv_phase>(phase);
  s.sequence = detail::load_le32(r, 8);
  s.security_counter = detail::load_le32(r, 12);
  s.chunk = detail::load_le32(r, 16);
  s.step = r[20];
  s.swap_size = detail::load_le32(r, 24);
  s.sector_size = detail::load_le32(r, 28);
  if (r[36] == 1) {
    s.pending_counter = detail::load_le32(r, 32);
  }
  return s;
}

result<nv_state> read_nv_state(boot_storage& storage) {
  auto loaded = load_nv_copies(storage);
  if (!loaded) {
    return loaded.error();
  }
  return loaded->state;
}

result<boot_report> boot(boot_storage& storage, const key_ring& keys, const boot_config& config) {
  engine e(storage, &keys, config);
  AEGIS_FW_TRY(e.open());
  return e.run_boot();
}

result<void> confirm(boot_storage& storage, const boot_config& config) {
  engine e(storage, nullptr, config);
  AEGIS_FW_TRY(e.open());
  if (e.nv().op != nv_operation::none) {
    return boot_errc::upgrade_in_progress;
  }
  auto trailer = e.read_trailer(boot_area::primary);
  if (!trailer) {
    return trailer.error();
  }
  if (trailer->magic == magic_state::bad || trailer->image_ok == flag_state::bad) {
    return boot_errc::bad_trailer;
  }
  if (trailer->magic == magic_state::unset || trailer->image_ok == flag_state::set) {
    return ok(); // pristine or already confirmed
  }
  return storage.write(boot_area::primary, e.layout().image_ok_offset(),
                       encode_flag_unit(e.layout()));
}

result<void> request_upgrade(boot_storage& storage, const boot_config& config, bool permanent) {
  engine e(storage, nullptr, config);
  AEGIS_FW_TRY(e.open());
  std::array<std::uint8_t, 4> magic{};
  AEGIS_FW_TRY(storage.read(boot_area::secondary, 0, magic));
  if (detail::load_le32(magic, 0) != image_magic) {
    return boot_errc::no_image;
  }
  auto trailer = e.read_trailer(boot_area::secondary);
  if (!trailer) {
    return trailer.error();
  }
  if (trailer->magic == magic_state::good) {
    return ok(); // already pending, as boot_set_next leaves it
  }
  const auto& layout = e.layout();
  if (trailer->magic == magic_state::bad || trailer->image_ok != flag_state::unset ||
      trailer->copy_done != flag_state::unset) {
    // Leftovers of an old trailer; a request is written on a clean one.
    AEGIS_FW_TRY(storage.erase(boot_area::secondary, layout.image_area(),
                               layout.slot_size() - layout.image_area()));
  }
  const swap_type type = permanent ? swap_type::perm : swap_type::test;
  const std::uint8_t info = static_cast<std::uint8_t>(type);
  AEGIS_FW_TRY(
      storage.write(boot_area::secondary, layout.swap_info_offset(), bytes_view(&info, 1)));
  if (permanent) {
    AEGIS_FW_TRY(
        storage.write(boot_area::secondary, layout.image_ok_offset(), encode_flag_unit(layout)));
  }
  const auto m = layout.magic();
  return storage.write(boot_area::secondary, layout.magic_offset(), m);
}

result<boot_status> inspect(boot_storage& storage, const key_ring& keys,
                            const boot_config& config) {
  engine e(storage, &keys, config);
  AEGIS_FW_TRY(e.open());
  boot_status status;
  status.nv = e.nv();
  status.slot_size = e.layout().slot_size();
  status.image_area = e.layout().image_area();
  for (auto [area, out] : {std::pair{boot_area::primary, &status.primary},
                           std::pair{boot_area::secondary, &status.secondary}}) {
    auto trailer = e.read_trailer(area);
    if (!trailer) {
      return trailer.error();
    }
    out->trailer = *trailer;
    auto slot = e.read_slot(area);
    if (!slot) {
      return slot.error();
    }
    if (auto parsed = parse_image(*slot, parse_options{e.layout().image_area()})) {
      out->version = parsed->header.version;
      out->security_counter = parsed->security_counter;
      out->image_end = parsed->image_end;
    }
    auto verified = e.verify_slot(*slot);
    if (!verified) {
      out->image_error = verified.error();
    }
  }
  status.pending = decide_swap_type(status.primary.trailer, status.secondary.trailer,
                                    config.mode == upgrade_mode::swap);
  return status;
}

} // namespace aegis::firmware

#undef AEGIS_FW_TRY
