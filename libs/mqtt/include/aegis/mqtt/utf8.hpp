#pragma once

// MQTT's UTF-8 rules (3.1.1 and 5.0 §1.5.4): well-formed UTF-8 (no overlong forms, nothing over
// U+10FFFF), no surrogates U+D800..U+DFFF [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2]. Control
// characters and non-characters are only "SHOULD NOT" [MQTT-1.5.4-3 note] and are accepted, so a
// receiver does not close a connection over them.

#include "aegis/base/error.hpp"
#include "aegis/mqtt/errors.hpp"

#include <string_view>

namespace aegis::mqtt {

// Errors: invalid_utf8, utf8_surrogate, utf8_null_character.
result<void> validate_utf8(std::string_view text) noexcept;

} // namespace aegis::mqtt
