// aegis-boot: the reference secure-boot verifier over slot files (see tools/README.md).
// `boot` prints its decision as key=value lines on stdout. Exit status: 0 an image was chosen
// (slot=primary, or slot=secondary as a fallback), 3 safe mode (no image may run), 1 storage
// or state failure, 2 usage error.

#include "file_storage.hpp"
#include "tool_support.hpp"

#include "aegis/firmware/boot.hpp"
#include "aegis/firmware/errors.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace aegis;
using namespace aegis::firmware;

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_safe_mode = 3;

struct global_args {
  std::string dir = ".";
  std::string primary;
  std::string secondary;
  std::string state;
  std::string mode = "swap";
  std::string sector_size = "4096";
  std::string align = "8";
  std::string max_align;
  std::string max_sectors = "128";
  std::vector<std::string> keys;
  bool allow_no_counter = false;

  std::string path(const std::string& given, const char* name) const {
    return given.empty() ? dir + "/" + name : given;
  }
  std::string primary_path() const { return path(primary, "slot-primary.bin"); }
  std::string secondary_path() const { return path(secondary, "slot-secondary.bin"); }
  std::string state_path() const { return path(state, "boot-state.bin"); }
};

int fail(int code, const std::string& what, const std::string& detail) {
  std::cerr << "aegis-boot: " << what << ": " << detail << "\n";
  return code;
}

int fail(int code, const std::string& what, const std::error_code& ec) {
  return fail(code, what, tools::error_text(ec));
}

std::optional<boot_config> make_config(const global_args& g) {
  boot_config c;
  if (g.mode == "swap") {
    c.mode = upgrade_mode::swap;
  } else if (g.mode == "overwrite") {
    c.mode = upgrade_mode::overwrite;
  } else {
    return std::nullopt;
  }
  const auto sector = tools::parse_uint(g.sector_size);
  const auto align = tools::parse_uint(g.align);
  const auto max_align =
      g.max_align.empty() ? std::optional<std::uint64_t>(0) : tools::parse_uint(g.max_align);
  const auto max_sectors = tools::parse_uint(g.max_sectors);
  if (!sector || *sector == 0 || *sector > (64u << 20) || !align || !max_align || !max_sectors) {
    return std::nullopt;
  }
  c.sector_size = *sector;
  c.write_align = *align;
  c.max_align = *max_align;
  c.max_sectors = *max_sectors;
  c.require_security_counter = !g.allow_no_counter;
  return c;
}

std::string error_or_none(const std::error_code& ec) {
  return ec ? firmware::code_name(ec) : "none";
}

int cmd_init(const global_args& g, const std::string& slot_size_text, bool force) {
  const auto config = make_config(g);
  const auto slot_size = tools::parse_uint(slot_size_text);
  if (!config || !slot_size || *slot_size == 0 || *slot_size > (1ull << 32)) {
    return fail(exit_usage, "init", "bad slot size or configuration");
  }
  if (!trailer_layout::make(*slot_size, config->write_align, config->max_align,
                            config->max_sectors)) {
    return fail(exit_usage, "init", "slot size cannot hold a header and the trailer");
  }
  const bytes erased_slot(*slot_size, erased_value);
  const bytes erased_state(nv_state_size + config->sector_size, erased_value);
  for (const auto& [path, content] :
       {std::pair{g.primary_path(), &erased_slot}, std::pair{g.secondary_path(), &erased_slot},
        std::pair{g.state_path(), &erased_state}}) {
    if (auto w = tools::write_file(path, *content, tools::file_mode::public_file, force); !w) {
      return fail(exit_failed, "init: " + path, w.error());
    }
  }
  return 0;
}

// What a programmer or an OTA download does: the image at the slot start, the rest erased.
int cmd_load(const global_args& g, const std::string& slot, const std::string& image_path) {
  if (slot != "primary" && slot != "secondary") {
    return fail(exit_usage, "load", "slot must be primary or secondary");
  }
  const std::string path = slot == "primary" ? g.primary_path() : g.secondary_path();
  auto current = tools::read_file(path);
  if (!current) {
    return fail(exit_failed, "load: " + path, current.error());
  }
  auto image = tools::read_file(image_path);
  if (!image) {
    return fail(exit_failed, "load: " + image_path, image.error());
  }
  if (image->size() > current->size()) {
    return fail(exit_failed, "load", "image is larger than the slot");
  }
  bytes content(current->size(), erased_value);
  std::copy(image->begin(), image->end(), content.begin());
  if (auto w = tools::write_file(path, content, tools::file_mode::public_file); !w) {
    return fail(exit_failed, "load: " + path, w.error());
  }
  return 0;
}

result<tools::file_storage> open_storage(const global_args& g) {
  return tools::file_storage::open(g.primary_path(), g.secondary_path(), g.state_path());
}

int cmd_boot(const global_args& g, const boot_config& config, std::optional<std::size_t> cut) {
  auto keys = tools::load_key_ring(g.keys);
  if (!keys) {
    return fail(exit_usage, "boot: keys", keys.error());
  }
  auto storage = open_storage(g);
  if (!storage) {
    return fail(exit_failed, "boot", storage.error());
  }
  if (cut) {
    storage->cut_power_after_for_test(*cut);
  }
  auto r = boot(*storage, *keys, config);
  if (!r) {
    return fail(exit_failed, "boot", r.error());
  }
  std::cout << "action=" << to_string(r->action) << "\n"
            << "resumed=" << (r->resumed ? "yes" : "no") << "\n"
            << "refused=" << error_or_none(r->refused) << "\n"
            << "slot=" << to_string(r->slot) << "\n";
  if (r->slot != boot_slot::none) {
    std::cout << "image=" << (r->slot == boot_slot::primary ? g.primary_path() : g.secondary_path())
              << "\n"
              << "version=" << to_string(*r->version) << "\n"
              << "security_counter="
              << (r->image_security_counter ? std::to_string(*r->image_security_counter) : "none")
              << "\n";
  }
  if (r->primary_error) {
    std::cout << "primary_error=" << error_or_none(r->primary_error) << "\n";
  }
  if (r->secondary_error) {
    std::cout << "secondary_error=" << error_or_none(r->secondary_error) << "\n";
  }
  std::cout << "nv_counter=" << r->nv_counter << "\n"
            << "counter_raised=" << (r->counter_raised ? "yes" : "no") << "\n"
            << "writes=" << storage->writes() << "\n";
  if (r->refused) {
    std::cerr << "aegis-boot: upgrade refused: " << tools::error_text(r->refused) << "\n";
  }
  if (r->slot == boot_slot::none) {
    std::cerr << "aegis-boot: SAFE MODE: no valid image (primary: "
              << tools::error_text(r->primary_error)
              << "; secondary: " << tools::error_text(r->secondary_error) << ")\n";
    return exit_safe_mode;
  }
  return 0;
}

int cmd_confirm(const global_args& g, const boot_config& config) {
  auto storage = open_storage(g);
  if (!storage) {
    return fail(exit_failed, "confirm", storage.error());
  }
  if (auto r = confirm(*storage, config); !r) {
    return fail(exit_failed, "confirm", r.error());
  }
  return 0;
}

int cmd_request(const global_args& g, const boot_config& config, bool permanent) {
  auto storage = open_storage(g);
  if (!storage) {
    return fail(exit_failed, "request", storage.error());
  }
  if (auto r = request_upgrade(*storage, config, permanent); !r) {
    return fail(exit_failed, "request", r.error());
  }
  return 0;
}

void print_slot(const char* name, const slot_status& s) {
  std::cout << name << ".valid=" << (s.image_error ? firmware::code_name(s.image_error) : "yes")
            << "\n"
            << name << ".version=" << (s.version ? to_string(*s.version) : "none") << "\n"
            << name << ".security_counter="
            << (s.security_counter ? std::to_string(*s.security_counter) : "none") << "\n"
            << name << ".magic=" << to_string(s.trailer.magic) << "\n"
            << name << ".image_ok=" << to_string(s.trailer.image_ok) << "\n"
            << name << ".copy_done=" << to_string(s.trailer.copy_done) << "\n"
            << name << ".swap_info=" << to_string(s.trailer.swap) << "\n";
}

int cmd_status(const global_args& g, const boot_config& config) {
  auto keys = tools::load_key_ring(g.keys);
  if (!keys) {
    return fail(exit_usage, "status: keys", keys.error());
  }
  auto storage = open_storage(g);
  if (!storage) {
    return fail(exit_failed, "status", storage.error());
  }
  auto s = inspect(*storage, *keys, config);
  if (!s) {
    return fail(exit_failed, "status", s.error());
  }
  const char* ops[] = {"none", "swap", "overwrite"};
  std::cout << "mode=" << to_string(config.mode) << "\n"
            << "slot_size=" << s->slot_size << "\n"
            << "image_area=" << s->image_area << "\n"
            << "nv_counter=" << s->nv.security_counter << "\n"
            << "nv_sequence=" << s->nv.sequence << "\n"
            << "operation=" << ops[static_cast<int>(s->nv.op)] << "\n"
            << "next_boot=" << to_string(s->pending) << "\n";
  print_slot("primary", s->primary);
  print_slot("secondary", s->secondary);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"aegis-boot: reference secure-boot verifier over A/B slot files"};
  app.require_subcommand(1);
  app.fallthrough();
  global_args g;
  app.add_option("--dir", g.dir, "Directory of the default slot and state files")
      ->capture_default_str();
  app.add_option("--primary", g.primary, "Primary slot file (default DIR/slot-primary.bin)");
  app.add_option("--secondary", g.secondary,
                 "Secondary slot file (default DIR/slot-secondary.bin)");
  app.add_option("--state", g.state, "NV state file (default DIR/boot-state.bin)");
  app.add_option("--mode", g.mode, "Upgrade mode: swap or overwrite")
      ->check(CLI::IsMember({"swap", "overwrite"}))
      ->capture_default_str();
  app.add_option("--sector-size", g.sector_size, "Copy/swap unit in bytes")->capture_default_str();
  app.add_option("--align", g.align, "Trailer write alignment (as imgtool --align)")
      ->capture_default_str();
  app.add_option("--max-align", g.max_align, "BOOT_MAX_ALIGN (default max(8, align))");
  app.add_option("--max-sectors", g.max_sectors, "Trailer status sectors (as imgtool -M)")
      ->capture_default_str();
  app.add_option("-k,--key", g.keys, "Trusted public key (PEM); repeatable");
  app.add_flag("--allow-no-counter", g.allow_no_counter,
               "Accept images without SEC_CNT (they count as 0)");

  std::string init_slot_size;
  bool init_force = false;
  auto* init = app.add_subcommand("init", "Create erased slot files and an empty state file");
  init->add_option("-S,--slot-size", init_slot_size, "Slot size in bytes")->required();
  init->add_flag("-f,--force", init_force, "Overwrite existing files");

  std::string load_slot;
  std::string load_image;
  auto* load = app.add_subcommand("load", "Write an image into a slot (as a programmer would)");
  load->add_option("slot", load_slot, "primary or secondary")->required();
  load->add_option("image", load_image, "Image file")->required();

  bool request_permanent = false;
  auto* request = app.add_subcommand("request", "Mark the secondary image as an upgrade");
  request->add_flag("-p,--permanent", request_permanent, "Permanent (PERM) instead of test");

  std::size_t cut_after = 0;
  auto* boot_cmd = app.add_subcommand("boot", "Boot once: upgrade, revert or resume, then choose");
  boot_cmd->add_option("--test-cut-power-after", cut_after,
                       "TEST ONLY: exit(99) right after this many storage writes");

  auto* confirm_cmd = app.add_subcommand("confirm", "Confirm the running (primary) image");
  auto* status = app.add_subcommand("status", "Show trailers, images and the NV state");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }

  if (init->parsed()) {
    return cmd_init(g, init_slot_size, init_force);
  }
  if (load->parsed()) {
    return cmd_load(g, load_slot, load_image);
  }
  const auto config = make_config(g);
  if (!config) {
    return fail(exit_usage, "configuration", "bad mode, sector size or trailer layout");
  }
  if ((boot_cmd->parsed() || status->parsed()) && g.keys.empty()) {
    return fail(exit_usage, "keys", "at least one --key is required");
  }
  if (request->parsed()) {
    return cmd_request(g, *config, request_permanent);
  }
  if (confirm_cmd->parsed()) {
    return cmd_confirm(g, *config);
  }
  if (status->parsed()) {
    return cmd_status(g, *config);
  }
  return cmd_boot(g, *config,
                  cut_after == 0 ? std::nullopt : std::optional<std::size_t>(cut_after));
}
