#include "coordinator/tokenizer/unicode.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace moe::tokenizer_internal {
namespace {

#include "coordinator/tokenizer/unicode_tables.inc"

constexpr uint16_t kQcNo = 1 << 8;
constexpr uint16_t kQcMaybe = 1 << 9;
constexpr uint16_t kHasDecomp = 1 << 10;

// Hangul syllable arithmetic (Unicode section 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

inline uint16_t Props(uint32_t cp) {
  if (cp >= 0x110000) return 0;
  constexpr uint32_t kMask = (1u << kPropBlockBits) - 1;
  return kPropStage2[(static_cast<uint32_t>(kPropStage1[cp >> kPropBlockBits]) << kPropBlockBits) |
                     (cp & kMask)];
}

// Bounds of the second byte of a sequence led by `lead`, and the number of continuation
// bytes; needed = 0 when `lead` cannot start a multi-byte sequence.
struct LeadInfo {
  int needed;
  uint8_t lo, hi;
};
inline LeadInfo InfoForLead(uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  return {0, 0, 0};
}

// Length of the well-formed-so-far sequence starting at bytes[i] (a non-ASCII byte), and
// whether it is complete. Returns 0 if bytes[i] itself is not a valid lead.
inline size_t ScanSequence(std::string_view bytes, size_t i, bool* complete) {
  LeadInfo info = InfoForLead(static_cast<uint8_t>(bytes[i]));
  *complete = false;
  if (info.needed == 0) return 0;
  size_t j = i + 1;
  for (int k = 0; k < info.needed; ++k, ++j) {
    if (j >= bytes.size()) return j - i;  // truncated at the end
    uint8_t c = static_cast<uint8_t>(bytes[j]);
    uint8_t lo = k == 0 ? info.lo : 0x80;
    uint8_t hi = k == 0 ? info.hi : 0xBF;
    if (c < lo || c > hi) return j - i;  // ill-formed here
  }
  *complete = true;
  return j - i;
}

uint32_t ComposePair(uint32_t a, uint32_t b) {
  // Hangul LV and LVT.
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  uint64_t key = (static_cast<uint64_t>(a) << 21) | b;
  const CompEntry* end = kCompositions + sizeof(kCompositions) / sizeof(kCompositions[0]);
  const CompEntry* it = std::lower_bound(kCompositions, end, key,
                                         [](const CompEntry& e, uint64_t k) { return e.key < k; });
  if (it != end && it->key == key) return it->composite;
  return 0;
}

void Decompose(uint32_t cp, std::vector<uint32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  if ((Props(cp) & kHasDecomp) == 0) {
    out->push_back(cp);
    return;
  }
  const DecompEntry* end = kDecompIndex + sizeof(kDecompIndex) / sizeof(kDecompIndex[0]);
  const DecompEntry* it = std::lower_bound(
      kDecompIndex, end, cp, [](const DecompEntry& e, uint32_t c) { return e.cp < c; });
  if (it == end || it->cp != cp) {
    out->push_back(cp);
    return;
  }
  out->insert(out->end(), kDecompData + it->offset, kDecompData + it->offset + it->length);
}

}  // namespace

const char* UnicodeTablesVersion() { return MOE_UNICODE_VERSION; }

size_t FindInvalidUtf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, text.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    bool complete = false;
    size_t len = ScanSequence(text, i, &complete);
    if (!complete) return i;
    i += len;
  }
  return std::string_view::npos;
}

uint32_t NextCodePoint(std::string_view text, size_t* pos) {
  size_t i = *pos;
  uint8_t b = static_cast<uint8_t>(text[i]);
  if (b < 0x80) {
    *pos = i + 1;
    return b;
  }
  int len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
  uint32_t cp = b & (0x7F >> len);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
  *pos = i + len;
  return cp;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void AppendUtf8Lossy(std::string_view bytes, std::string* out) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    size_t start = i;
    while (i < n && static_cast<uint8_t>(bytes[i]) < 0x80) ++i;
    if (i >= n || i > start) {
      out->append(bytes.data() + start, i - start);
      continue;
    }
    bool complete = false;
    size_t len = ScanSequence(bytes, i, &complete);
    if (complete) {
      out->append(bytes.data() + i, len);
      i += len;
    } else {
      // A maximal subpart (or a lone invalid byte) becomes one U+FFFD.
      out->append(kReplacement, 3);
      i += std::max<size_t>(len, 1);
    }
  }
}

size_t IncompleteUtf8TailLength(std::string_view bytes) {
  const size_t n = bytes.size();
  // A sequence is at most 4 bytes, so an incomplete tail starts in the last 3.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    size_t i = n - back;
    uint8_t b = static_cast<uint8_t>(bytes[i]);
    if (b < 0x80) return 0;
    if (b >= 0xC0) {
      bool complete = false;
      size_t len = ScanSequence(bytes, i, &complete);
      // Incomplete only if every byte up to the end was acceptable.
      return (!complete && len == back) ? back : 0;
    }
  }
  return 0;
}

bool IsWhiteSpace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

uint8_t CombiningClass(uint32_t cp) { return static_cast<uint8_t>(Props(cp) & 0xFF); }

bool IsNfcQuick(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  uint8_t last_ccc = 0;
  while (i < n) {
    uint8_t b = static_cast<uint8_t>(text[i]);
    if (b < 0xCC) {  // every code point below U+0300 is NFC_QC=Yes with ccc 0
      last_ccc = 0;
      i += b < 0x80 ? 1 : 2;
      continue;
    }
    uint32_t cp = NextCodePoint(text, &i);
    uint16_t p = Props(cp);
    if (p & (kQcNo | kQcMaybe)) return false;
    uint8_t ccc = static_cast<uint8_t>(p & 0xFF);
    if (ccc != 0 && last_ccc > ccc) return false;
    last_ccc = ccc;
  }
  return true;
}

void NfcNormalize(std::string_view text, std::string* out) {
  out->clear();
  if (IsNfcQuick(text)) {
    out->assign(text);
    return;
  }
  // 1. Full canonical decomposition.
  std::vector<uint32_t> buf;
  buf.reserve(text.size() + 8);
  size_t i = 0;
  while (i < text.size()) Decompose(NextCodePoint(text, &i), &buf);
  // 2. Canonical ordering: stable sort each run of non-starters by combining class.
  for (size_t k = 1; k < buf.size(); ++k) {
    uint8_t c = CombiningClass(buf[k]);
    if (c == 0) continue;
    size_t j = k;
    while (j > 0) {
      uint8_t prev = CombiningClass(buf[j - 1]);
      if (prev == 0 || prev <= c) break;
      std::swap(buf[j - 1], buf[j]);
      --j;
    }
  }
  // 3. Canonical composition.
  if (!buf.empty()) {
    size_t starter_pos = 0;
    uint32_t starter = buf[0];
    int last_class = CombiningClass(starter) == 0 ? 0 : 256;
    size_t comp_pos = 1;
    for (size_t k = 1; k < buf.size(); ++k) {
      uint32_t ch = buf[k];
      int ch_class = CombiningClass(ch);
      uint32_t composite = 0;
      if (last_class < ch_class || last_class == 0) composite = ComposePair(starter, ch);
      if (composite != 0) {
        buf[starter_pos] = composite;
        starter = composite;
        continue;
      }
      if (ch_class == 0) {
        starter_pos = comp_pos;
        starter = ch;
      }
      last_class = ch_class;
      buf[comp_pos++] = ch;
    }
    buf.resize(comp_pos);
  }
  out->reserve(text.size());
  for (uint32_t cp : buf) AppendUtf8(cp, out);
}

}  // namespace moe::tokenizer_internal
