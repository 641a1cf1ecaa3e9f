// Python string formatting for the chat-template interpreter (declared in builtins.h):
// `fmt % args` and str.format().
#include <cmath>
#include <cstdio>

#include "coordinator/chat/builtins.h"

namespace moe::chat {
namespace {

struct Spec {
  std::string fill = " ";
  char align = 0;  // < > ^ = or 0 for the default
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int64_t width = -1;
  int64_t precision = -1;
  char grouping = 0;  // ',' or '_'
  char type = 0;
};

std::string Pad(const std::string& body, const Spec& spec, bool numeric) {
  int64_t pad = spec.width - PyLen(body);
  if (pad <= 0) return body;
  char align = spec.align != 0 ? spec.align : (numeric ? '>' : '<');
  std::string fill;
  auto repeat = [&](int64_t n) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += spec.fill;
    return out;
  };
  if (align == '<') return body + repeat(pad);
  if (align == '>') return repeat(pad) + body;
  if (align == '^') return repeat(pad / 2) + body + repeat(pad - pad / 2);
  // '=': padding after the sign.
  size_t sign = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
  return body.substr(0, sign) + repeat(pad) + body.substr(sign);
}

std::string Group(const std::string& digits, char sep) {
  if (sep == 0) return digits;
  std::string out;
  int count = 0;
  for (size_t i = digits.size(); i > 0; --i) {
    if (count > 0 && count % 3 == 0) out.insert(out.begin(), sep);
    out.insert(out.begin(), digits[i - 1]);
    ++count;
  }
  return out;
}

std::string SignPrefix(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

absl::StatusOr<std::string> FormatNumber(const Value& v, Spec spec) {
  char type = spec.type;
  if (type == 0) type = v.kind() == Kind::kFloat ? (spec.precision >= 0 ? 'g' : 'r') : 'd';
  if (type == 'n') type = v.kind() == Kind::kFloat ? 'g' : 'd';
  std::string body;
  if (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b' || type == 'c') {
    if (!v.is_integral()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown format code '", std::string(1, type),
                                                     "' for object of type '", TypeName(v), "'"));
    }
    int64_t i = v.int_value();
    if (type == 'c') {
      std::string out;
      AppendUtf8(static_cast<uint32_t>(i), &out);
      return Pad(out, spec, false);
    }
    uint64_t mag = i < 0 ? static_cast<uint64_t>(-(i + 1)) + 1 : static_cast<uint64_t>(i);
    std::string digits;
    int base = type == 'd' ? 10 : (type == 'o' ? 8 : (type == 'b' ? 2 : 16));
    const char* alphabet = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
      digits.insert(digits.begin(), alphabet[mag % base]);
      mag /= base;
    } while (mag > 0);
    body = SignPrefix(i < 0, spec.sign);
    if (spec.alternate && base != 10) {
      body.push_back('0');
      body.push_back(type == 'o' ? 'o' : (type == 'b' ? 'b' : type));
    }
    body += Group(digits, spec.grouping);
  } else {
    double d = v.float_value();
    std::string text;
    if (type == 'r') {
      text = FormatFloat(std::fabs(d));
    } else if (std::isnan(d) || std::isinf(d)) {
      text = std::isnan(d) ? "nan" : "inf";
      if (type == 'F' || type == 'E' || type == 'G') text = std::isnan(d) ? "NAN" : "INF";
    } else {
      int precision = static_cast<int>(spec.precision >= 0 ? spec.precision : 6);
      double x = std::fabs(d);
      char buf[512];
      if (type == '%') {
        std::snprintf(buf, sizeof(buf), "%.*f%%", precision, x * 100);
      } else if (type == 'f' || type == 'F' || type == 'e' || type == 'E' || type == 'g' ||
                 type == 'G') {
        char fmt[8] = {'%', '.', '*', type, 0};
        if (spec.alternate) {
          fmt[1] = '#';
          fmt[2] = '.';
          fmt[3] = '*';
          fmt[4] = type;
        }
        std::snprintf(buf, sizeof(buf), fmt, precision, x);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown format code '", std::string(1, type), "' for object of type 'float'"));
      }
      text = buf;
    }
    if (spec.grouping != 0) {
      size_t end = text.find_first_not_of("0123456789");
      if (end == std::string::npos) end = text.size();
      text = Group(text.substr(0, end), spec.grouping) + text.substr(end);
    }
    body = SignPrefix(std::signbit(d) && !std::isnan(d), spec.sign) + text;
  }
  return Pad(body, spec, true);
}

// Parses a format spec: [[fill]align][sign][#][0][width][,|_][.precision][type].
absl::StatusOr<Spec> ParseSpec(const std::string& text) {
  Spec spec;
  std::vector<size_t> offsets = CodePointOffsets(text);
  size_t n = offsets.size() - 1;
  size_t i = 0;
  auto cp_at = [&](size_t k) { return text.substr(offsets[k], offsets[k + 1] - offsets[k]); };
  auto is_align = [](const std::string& c) { return c == "<" || c == ">" || c == "^" || c == "="; };
  if (n >= 2 && is_align(cp_at(1))) {
    spec.fill = cp_at(0);
    spec.align = cp_at(1)[0];
    i = 2;
  } else if (n >= 1 && is_align(cp_at(0))) {
    spec.align = cp_at(0)[0];
    i = 1;
  }
  std::string rest = text.substr(offsets[i]);
  size_t p = 0;
  if (p < rest.size() && (rest[p] == '+' || rest[p] == '-' || rest[p] == ' ')) {
    spec.sign = rest[p++];
  }
  if (p < rest.size() && rest[p] == '#') {
    spec.alternate = true;
    ++p;
  }
  if (p < rest.size() && rest[p] == '0') {
    spec.zero = true;
    ++p;
  }
  auto number = [&]() {
    int64_t value = -1;
    while (p < rest.size() && rest[p] >= '0' && rest[p] <= '9') {
      value = (value < 0 ? 0 : value) * 10 + (rest[p++] - '0');
      if (value > 1000000) value = 1000000;
    }
    return value;
  };
  spec.width = number();
  if (p < rest.size() && (rest[p] == ',' || rest[p] == '_')) spec.grouping = rest[p++];
  if (p < rest.size() && rest[p] == '.') {
    ++p;
    spec.precision = number();
    if (spec.precision < 0) return absl::InvalidArgumentError("format specifier missing precision");
  }
  if (p < rest.size()) spec.type = rest[p++];
  if (p != rest.size()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid format specifier '", text, "'"));
  }
  if (spec.zero && spec.align == 0) {
    spec.fill.assign(1, '0');
    spec.align = '=';
  }
  return spec;
}

absl::StatusOr<std::string> FormatValue(const Value& v, const std::string& spec_text) {
  MOE_ASSIGN_OR_RETURN(Spec spec, ParseSpec(spec_text));
  if (v.is_number() && !(v.kind() == Kind::kBool && spec.type == 0)) {
    return FormatNumber(v, spec);
  }
  if (spec.type != 0 && spec.type != 's') {
    return absl::InvalidArgumentError(absl::StrCat("unknown format code '",
                                                   std::string(1, spec.type),
                                                   "' for object of type '", TypeName(v), "'"));
  }
  std::string text = Str(v);
  if (spec.precision >= 0) text = PySubstr(text, 0, spec.precision);
  return Pad(text, spec, false);
}

}  // namespace

absl::StatusOr<std::string> PercentFormat(const std::string& format, const Value& args) {
  ValueList positional;
  const ValueDict* mapping = nullptr;
  // Like CPython: a subscriptable non-tuple argument may be left unused.
  bool subscriptable = false;
  if (args.kind() == Kind::kTuple) {
    positional = args.list();
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args.dict();
    subscriptable = args.is_dict() || args.kind() == Kind::kList || args.is_undefined();
  }
  size_t next = 0;
  std::string out;
  size_t i = 0;
  auto take = [&]() -> absl::StatusOr<Value> {
    if (next >= positional.size()) {
      return absl::InvalidArgumentError("not enough arguments for format string");
    }
    return positional[next++];
  };
  while (i < format.size()) {
    char c = format[i++];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i >= format.size()) return absl::InvalidArgumentError("incomplete format");
    Value value;
    bool have_value = false;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string::npos || mapping == nullptr) {
        return absl::InvalidArgumentError("format requires a mapping");
      }
      const Value* v = mapping->Find(format.substr(i + 1, close - i - 1));
      if (v == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("key '", format.substr(i + 1, close - i - 1), "' not in mapping"));
      }
      value = *v;
      have_value = true;
      next = positional.size();
      i = close + 1;
    }
    Spec spec;
    spec.align = '>';
    while (i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string::npos) {
      char flag = format[i++];
      if (flag == '-') spec.align = '<';
      if (flag == '+' || flag == ' ') spec.sign = flag;
      if (flag == '#') spec.alternate = true;
      if (flag == '0') spec.zero = true;
    }
    auto number = [&]() -> absl::StatusOr<int64_t> {
      if (i < format.size() && format[i] == '*') {
        ++i;
        MOE_ASSIGN_OR_RETURN(Value v, take());
        if (!v.is_integral()) return absl::InvalidArgumentError("* wants int");
        return v.int_value();
      }
      int64_t value = -1;
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
        value = (value < 0 ? 0 : value) * 10 + (format[i++] - '0');
        if (value > 1000000) value = 1000000;
      }
      return value;
    };
    MOE_ASSIGN_OR_RETURN(spec.width, number());
    if (i < format.size() && format[i] == '.') {
      ++i;
      MOE_ASSIGN_OR_RETURN(spec.precision, number());
      if (spec.precision < 0) spec.precision = 0;
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) return absl::InvalidArgumentError("incomplete format");
    char conv = format[i++];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_value) {
      MOE_ASSIGN_OR_RETURN(value, take());
    }
    if (spec.zero && spec.align == '>') {
      spec.fill.assign(1, '0');
      spec.align = '=';
    }
    if (conv == 's' || conv == 'r' || conv == 'a') {
      std::string text = conv == 's' ? Str(value) : Repr(value);
      if (spec.precision >= 0) text = PySubstr(text, 0, spec.precision);
      spec.fill.assign(1, ' ');
      if (spec.align == '=') spec.align = '>';
      out += Pad(text, spec, false);
      continue;
    }
    if (std::string_view("diuxXofFeEgGc").find(conv) == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported format character '", std::string(1, conv), "'"));
    }
    if (!value.is_number()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "%", std::string(1, conv), " format: a real number is required, not ", TypeName(value)));
    }
    if (conv == 'd' || conv == 'i' || conv == 'u') {
      conv = 'd';
      if (value.kind() == Kind::kFloat) {
        value = Value::Int(static_cast<int64_t>(value.float_value()));
      }
    }
    if ((conv == 'x' || conv == 'X' || conv == 'o' || conv == 'c') && !value.is_integral()) {
      return absl::InvalidArgumentError(
          absl::StrCat("%", std::string(1, conv), " format: an integer is required"));
    }
    if (std::string_view("fFeEgG").find(conv) != std::string_view::npos) {
      value = Value::Float(value.float_value());
    }
    spec.type = conv;
    MOE_ASSIGN_OR_RETURN(std::string text, FormatNumber(value, spec));
    out += text;
  }
  if (next < positional.size() && !subscriptable) {
    return absl::InvalidArgumentError("not all arguments converted during string formatting");
  }
  return out;
}

absl::StatusOr<std::string> BraceFormat(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  size_t i = 0;
  while (i < format.size()) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      return absl::InvalidArgumentError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      i += 2;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError("Single '{' encountered in format string");
    }
    std::string field = format.substr(i + 1, close - i - 1);
    i = close + 1;
    std::string spec;
    size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    char conversion = 0;
    size_t bang = field.find('!');
    if (bang != std::string::npos) {
      if (bang + 2 != field.size()) return absl::InvalidArgumentError("invalid conversion");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    size_t name_end = field.find_first_of(".[");
    std::string name = field.substr(0, name_end);
    Value value;
    if (name.empty()) {
      if (auto_index >= args.positional.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Replacement index ", auto_index, " out of range for positional args"));
      }
      value = args.positional[auto_index++];
    } else if (name.find_first_not_of("0123456789") == std::string::npos) {
      size_t index = std::stoul(name.substr(0, 9));
      if (index >= args.positional.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Replacement index ", index, " out of range for positional args"));
      }
      value = args.positional[index];
    } else {
      const Value* v = nullptr;
      for (const auto& [key, kv] : args.keyword) {
        if (key == name) v = &kv;
      }
      if (v == nullptr) return absl::InvalidArgumentError(absl::StrCat("KeyError: '", name, "'"));
      value = *v;
    }
    // .attr and [key] accessors.
    size_t p = name_end;
    while (p != std::string::npos && p < field.size()) {
      if (field[p] == '.') {
        size_t end = field.find_first_of(".[", p + 1);
        MOE_ASSIGN_OR_RETURN(value, GetAttr(value, field.substr(p + 1, end - p - 1)));
        p = end;
      } else {
        size_t end = field.find(']', p);
        if (end == std::string::npos) return absl::InvalidArgumentError("Missing ']' in format");
        std::string key = field.substr(p + 1, end - p - 1);
        Value k = key.find_first_not_of("0123456789") == std::string::npos && !key.empty()
                      ? Value::Int(std::stoll(key.substr(0, 18)))
                      : Value::String(key);
        MOE_ASSIGN_OR_RETURN(value, GetItem(value, k));
        p = end + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      value = Value::String(Repr(value));
    } else if (conversion == 's') {
      value = Value::String(Str(value));
    } else if (conversion != 0) {
      return absl::InvalidArgumentError("Unknown conversion specifier");
    }
    MOE_ASSIGN_OR_RETURN(std::string text, FormatValue(value, spec));
    out += text;
  }
  return out;
}

}  // namespace moe::chat
