#include "aegis/base/clock.hpp"

namespace aegis {

const clock& real_clock() noexcept {
  static const system_clock instance;
  return instance;
}

} // namespace aegis
