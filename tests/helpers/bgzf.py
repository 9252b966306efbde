"""A bgzip writer for the reader tests: small BGZF blocks, so that a cut or a flipped byte can land
on any part of the format (block headers, deflate data, CRC, sizes, the end-of-file block)."""

from __future__ import annotations

import zlib


def bgzip(data: bytes, block: int = 300) -> bytes:
    """`data` as BGZF with blocks of `block` uncompressed bytes, then the empty end-of-file block."""
    out = bytearray()
    for start in range(0, len(data), block):
        out += _bgzf_block(data[start : start + block])
    return bytes(out + _bgzf_block(b""))


def _bgzf_block(chunk: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = compressor.compress(chunk) + compressor.flush()
    header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00" + (25 + len(body)).to_bytes(
        2, "little"
    )
    return header + body + zlib.crc32(chunk).to_bytes(4, "little") + len(chunk).to_bytes(4, "little")
