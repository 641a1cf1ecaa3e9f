// The GPT-2 ByteLevel byte <-> character table used by byte-level BPE vocabularies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace moe::tokenizer_internal {

// The code point byte `b` is written as in vocab pieces: bytes 0x21..0x7E, 0xA1..0xAC and
// 0xAE..0xFF map to themselves; the other 68 map to U+0100.. in increasing byte order (space is
// U+0120 'Ġ', newline U+010A 'Ċ').
uint32_t ByteToCodePoint(uint8_t b);
// The inverse; -1 when `cp` is not in the table.
int CodePointToByte(uint32_t cp);
// Raw bytes -> the piece spelling (UTF-8 of the mapped characters).
std::string BytesToPiece(std::string_view bytes);
// Piece spelling (well-formed UTF-8) -> raw bytes. False (and *out unspecified) if some
// character is not in the table.
bool PieceToBytes(std::string_view piece, std::string* out);

}  // namespace moe::tokenizer_internal
