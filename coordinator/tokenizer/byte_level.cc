#include "coordinator/tokenizer/byte_level.h"

#include <array>

#include "coordinator/tokenizer/unicode.h"

namespace moe::tokenizer_internal {
namespace {

struct Tables {
  std::array<uint32_t, 256> byte_to_cp;
  std::array<int16_t, 512> cp_to_byte;  // every mapped code point is below U+0200
};

const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.cp_to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool identity = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t.byte_to_cp[b] = identity ? static_cast<uint32_t>(b) : next++;
      t.cp_to_byte[t.byte_to_cp[b]] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

uint32_t ByteToCodePoint(uint8_t b) { return GetTables().byte_to_cp[b]; }

int CodePointToByte(uint32_t cp) { return cp < 512 ? GetTables().cp_to_byte[cp] : -1; }

std::string BytesToPiece(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(c)), &out);
  return out;
}

bool PieceToBytes(std::string_view piece, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i < piece.size()) {
    int b = CodePointToByte(NextCodePoint(piece, &i));
    if (b < 0) return false;
    out->push_back(static_cast<char>(b));
  }
  return true;
}

}  // namespace moe::tokenizer_internal
