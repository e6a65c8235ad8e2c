// aegisctl: the operator CLI for Aegis' admin API (see cli/README.md).

#include "aegis/ctl/app.hpp"

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    args.emplace_back(argv[i]);
  }
  return aegis::ctl::run(args, std::cout, std::cerr);
}
