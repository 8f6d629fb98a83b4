// A small reader for the flat JSON of tests/data (an array of objects whose values are strings,
// integers or booleans). Test support only; fails loudly on anything else.
#pragma once

#include <cctype>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace mpswitch::testing {

using JsonObject = std::map<std::string, std::string>;  // numbers and booleans as their text

inline std::vector<JsonObject> ParseJsonArray(const std::string& s) {
  size_t i = 0;
  auto ws = [&] { while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i; };
  auto expect = [&](char c) {
    ws();
    if (i >= s.size() || s[i] != c) throw std::runtime_error(std::string("JSON: expected ") + c + " at " + std::to_string(i));
    ++i;
  };
  auto str = [&] {
    expect('"');
    std::string out;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') throw std::runtime_error("JSON: escapes not supported");
      out += s[i++];
    }
    expect('"');
    return out;
  };
  std::vector<JsonObject> v;
  expect('[');
  ws();
  if (i < s.size() && s[i] == ']') return v;
  while (true) {
    JsonObject o;
    expect('{');
    while (true) {
      const std::string k = str();
      expect(':');
      ws();
      if (i < s.size() && s[i] == '"') {
        o[k] = str();
      } else {
        const size_t b = i;
        while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-')) ++i;
        if (b == i) throw std::runtime_error("JSON: bad value for " + k);
        o[k] = s.substr(b, i - b);
      }
      ws();
      if (i < s.size() && s[i] == ',') { ++i; continue; }
      expect('}');
      break;
    }
    v.push_back(o);
    ws();
    if (i < s.size() && s[i] == ',') { ++i; continue; }
    expect(']');
    return v;
  }
}

}  // namespace mpswitch::testing
