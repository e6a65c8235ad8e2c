#pragma once

// aegisctl's command line: parses arguments, builds the admin API requests, prints results.

#include "aegis/ctl/transport.hpp"

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace aegis::ctl {

using transport_factory = std::function<std::unique_ptr<transport>(const endpoint&)>;

// args excludes the program name. Returns the exit code (0, 1 or 2); errors go to `err` as
// one line "aegisctl: <status>: <message>".
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        const transport_factory& connect = make_https_transport);

} // namespace aegis::ctl
