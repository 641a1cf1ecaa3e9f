// Python str helpers of the chat-template interpreter (declared in builtins.h).
#include <algorithm>

#include "coordinator/chat/builtins.h"

namespace moe::chat {
namespace {

uint32_t LowerCp(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7)) return cp + 32;
  if (cp >= 0x100 && cp <= 0x17f) {
    if (cp == 0x130) return 'i';
    if (cp == 0x178) return 0xff;
    bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
    bool even_upper = (cp <= 0x12f) || (cp >= 0x132 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177);
    if (even_upper && cp % 2 == 0) return cp + 1;
    if (odd_upper && cp % 2 == 1) return cp + 1;
    return cp;
  }
  if (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2) return cp + 32;
  if (cp == 0x386) return 0x3ac;
  if (cp >= 0x388 && cp <= 0x38a) return cp + 37;
  if (cp == 0x38c) return 0x3cc;
  if (cp == 0x38e || cp == 0x38f) return cp + 63;
  if (cp >= 0x410 && cp <= 0x42f) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40f) return cp + 80;
  return cp;
}

uint32_t UpperCp(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  if (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7) return cp - 32;
  if (cp == 0xff) return 0x178;
  if (cp == 0xb5) return 0x39c;
  if (cp >= 0x100 && cp <= 0x17f) {
    if (cp == 0x131) return 'I';
    if (cp == 0x17f) return 'S';
    bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
    bool even_upper = (cp <= 0x12f) || (cp >= 0x132 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177);
    if (even_upper && cp % 2 == 1) return cp - 1;
    if (odd_upper && cp % 2 == 0) return cp - 1;
    return cp;
  }
  if (cp == 0x3c2) return 0x3a3;
  if (cp >= 0x3b1 && cp <= 0x3cb) return cp - 32;
  if (cp == 0x3ac) return 0x386;
  if (cp >= 0x3ad && cp <= 0x3af) return cp - 37;
  if (cp == 0x3cc) return 0x38c;
  if (cp == 0x3cd || cp == 0x3ce) return cp - 63;
  if (cp >= 0x430 && cp <= 0x44f) return cp - 32;
  if (cp >= 0x450 && cp <= 0x45f) return cp - 80;
  return cp;
}

void AppendLower(uint32_t cp, std::string* out) {
  AppendUtf8(LowerCp(cp), out);
  if (cp == 0x130) AppendUtf8(0x307, out);  // 'İ'.lower() == 'i̇'
}

void AppendUpper(uint32_t cp, std::string* out) {
  if (cp == 0xdf) {
    *out += "SS";  // 'ß'.upper()
    return;
  }
  AppendUtf8(UpperCp(cp), out);
}

std::vector<uint32_t> Decode(const std::string& s) {
  std::vector<uint32_t> cps;
  size_t pos = 0;
  while (pos < s.size()) cps.push_back(DecodeUtf8(s, &pos));
  return cps;
}

bool InChars(uint32_t cp, const std::vector<uint32_t>& chars) {
  return std::find(chars.begin(), chars.end(), cp) != chars.end();
}

}  // namespace

std::string PyLower(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) AppendLower(DecodeUtf8(s, &pos), &out);
  return out;
}

std::string PyUpper(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) AppendUpper(DecodeUtf8(s, &pos), &out);
  return out;
}

std::string PyCapitalize(const std::string& s) {
  std::string out;
  size_t pos = 0;
  bool first = true;
  while (pos < s.size()) {
    uint32_t cp = DecodeUtf8(s, &pos);
    if (first) {
      AppendUpper(cp, &out);
    } else {
      AppendLower(cp, &out);
    }
    first = false;
  }
  return out;
}

std::string PyTitle(const std::string& s) {
  std::string out;
  size_t pos = 0;
  bool word_start = true;
  while (pos < s.size()) {
    uint32_t cp = DecodeUtf8(s, &pos);
    bool separator = IsPySpace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    if (separator) {
      AppendUtf8(cp, &out);
      word_start = true;
    } else if (word_start) {
      AppendUpper(cp, &out);
      word_start = false;
    } else {
      AppendLower(cp, &out);
    }
  }
  return out;
}

std::string PyStrTitle(const std::string& s) {
  std::string out;
  size_t pos = 0;
  bool previous_cased = false;
  while (pos < s.size()) {
    uint32_t cp = DecodeUtf8(s, &pos);
    if (previous_cased) {
      AppendLower(cp, &out);
    } else {
      AppendUpper(cp, &out);
    }
    previous_cased = LowerCp(cp) != cp || UpperCp(cp) != cp || cp == 0xdf;
  }
  return out;
}

std::string PyStrip(const std::string& s, const Value* chars, char which) {
  std::vector<uint32_t> cps = Decode(s);
  bool whitespace = chars == nullptr || chars->is_none() || chars->is_undefined();
  std::vector<uint32_t> set = whitespace ? std::vector<uint32_t>() : Decode(Str(*chars));
  auto strip = [&](uint32_t cp) { return whitespace ? IsPySpace(cp) : InChars(cp, set); };
  size_t begin = 0;
  size_t end = cps.size();
  if (which != 'r') {
    while (begin < end && strip(cps[begin])) ++begin;
  }
  if (which != 'l') {
    while (end > begin && strip(cps[end - 1])) --end;
  }
  std::string out;
  for (size_t i = begin; i < end; ++i) AppendUtf8(cps[i], &out);
  return out;
}

ValueList PySplit(const std::string& s, const Value* sep, int64_t maxsplit, bool from_right) {
  ValueList parts;
  if (sep != nullptr && !sep->is_none() && !sep->is_undefined()) {
    const std::string delim = Str(*sep);
    if (delim.empty()) return parts;  // the caller rejects an empty separator
    if (!from_right) {
      size_t start = 0;
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        size_t hit = s.find(delim, start);
        if (hit == std::string::npos) break;
        parts.push_back(Value::String(s.substr(start, hit - start)));
        start = hit + delim.size();
      }
      parts.push_back(Value::String(s.substr(start)));
      return parts;
    }
    size_t end = s.size();
    ValueList reversed;
    while (maxsplit < 0 || static_cast<int64_t>(reversed.size()) < maxsplit) {
      if (end < delim.size()) break;
      size_t hit = s.rfind(delim, end - delim.size());
      if (hit == std::string::npos) break;
      reversed.push_back(Value::String(s.substr(hit + delim.size(), end - hit - delim.size())));
      end = hit;
    }
    reversed.push_back(Value::String(s.substr(0, end)));
    parts.assign(reversed.rbegin(), reversed.rend());
    return parts;
  }
  // Whitespace runs; empty pieces are dropped.
  std::vector<size_t> offsets = CodePointOffsets(s);
  size_t n = offsets.size() - 1;
  auto space_at = [&](size_t i) {
    size_t pos = offsets[i];
    return IsPySpace(DecodeUtf8(s, &pos));
  };
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < n && space_at(i)) ++i;
      if (i == n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(Value::String(s.substr(offsets[i])));
        break;
      }
      size_t j = i;
      while (j < n && !space_at(j)) ++j;
      parts.push_back(Value::String(s.substr(offsets[i], offsets[j] - offsets[i])));
      i = j;
    }
    return parts;
  }
  ValueList reversed;
  size_t i = n;
  while (true) {
    while (i > 0 && space_at(i - 1)) --i;
    if (i == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(reversed.size()) == maxsplit) {
      reversed.push_back(Value::String(s.substr(0, offsets[i])));
      break;
    }
    size_t j = i;
    while (j > 0 && !space_at(j - 1)) --j;
    reversed.push_back(Value::String(s.substr(offsets[j], offsets[i] - offsets[j])));
    i = j;
  }
  parts.assign(reversed.rbegin(), reversed.rend());
  return parts;
}

std::string PyReplace(const std::string& s, const std::string& old_text,
                      const std::string& new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new` before every code point and at the end.
    std::vector<size_t> offsets = CodePointOffsets(s);
    int64_t done = 0;
    for (size_t i = 0; i + 1 < offsets.size(); ++i) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      out += s.substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
    if (count < 0 || done < count) out += new_text;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(old_text, start);
    if (hit == std::string::npos) break;
    out += s.substr(start, hit - start);
    out += new_text;
    start = hit + old_text.size();
    ++done;
  }
  out += s.substr(start);
  return out;
}

std::vector<std::string> PySplitLines(const std::string& s) {
  std::vector<std::string> lines;
  std::string current;
  size_t pos = 0;
  bool pending = false;
  while (pos < s.size()) {
    size_t start = pos;
    uint32_t cp = DecodeUtf8(s, &pos);
    bool brk = cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c || cp == 0x1d ||
               cp == 0x1e || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!brk) {
      current += s.substr(start, pos - start);
      pending = true;
      continue;
    }
    if (cp == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    lines.push_back(std::move(current));
    current.clear();
    pending = false;
  }
  if (pending) lines.push_back(std::move(current));
  return lines;
}

int64_t PyLen(const std::string& s) { return static_cast<int64_t>(CodePointOffsets(s).size() - 1); }

std::string PySubstr(const std::string& s, int64_t start, int64_t stop) {
  std::vector<size_t> offsets = CodePointOffsets(s);
  int64_t n = static_cast<int64_t>(offsets.size() - 1);
  auto clamp = [n](int64_t i) {
    if (i < 0) i += n;
    return std::clamp<int64_t>(i, 0, n);
  };
  start = clamp(start);
  stop = clamp(stop);
  if (stop <= start) return "";
  return s.substr(offsets[start], offsets[stop] - offsets[start]);
}

absl::StatusOr<std::vector<int64_t>> SliceIndexes(int64_t length, const Value& start,
                                                  const Value& stop, const Value& step) {
  auto bad = [](const Value& v) { return !v.is_none() && !v.is_integral(); };
  if (bad(start) || bad(stop) || bad(step)) {
    return absl::InvalidArgumentError(
        "slice indices must be integers or None or have an __index__ method");
  }
  int64_t st = step.is_none() ? 1 : step.int_value();
  if (st == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  int64_t lower = st > 0 ? 0 : -1;
  int64_t upper = st > 0 ? length : length - 1;
  auto adjust = [&](const Value& v, int64_t def) {
    if (v.is_none()) return def;
    int64_t i = v.int_value();
    if (i < 0) return std::max(i + length, lower);
    return std::min(i, upper);
  };
  int64_t begin = adjust(start, st > 0 ? lower : upper);
  int64_t end = adjust(stop, st > 0 ? upper : lower);
  std::vector<int64_t> indexes;
  for (int64_t i = begin; st > 0 ? i < end : i > end; i += st) indexes.push_back(i);
  return indexes;
}

}  // namespace moe::chat
