# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""Which GPU architectures a compiled CUDA library holds code for, read from
its ``.nv_fatbin`` ELF section, without a GPU and without ``cuobjdump``
(which not every CUDA toolkit ships).

nvcc embeds one fat binary per translation unit in that section. Each
starts with a 16-byte header (magic ``0xBA55ED50``, version, header size,
size of its entries) followed by entries: a machine-code image (kind 2,
"cubin", for one ``sm_XY``) or PTX (kind 1, compiled by the driver for newer
GPUs). An entry's header gives its kind at byte 0, its header size at 4, its
payload size at 8 and its architecture ``XY`` at 28.
"""
import struct
from pathlib import Path
from typing import Dict, List, Optional

FATBIN_MAGIC = 0xBA55ED50
FATBIN_SECTION = '.nv_fatbin'
ENTRY_KINDS = {1: 'ptx', 2: 'cubin'}


def elf_section(path, name: str) -> Optional[bytes]:
    """The contents of section ``name`` of a 64-bit little-endian ELF file,
    or None if it has no such section."""
    data = Path(path).read_bytes()
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise ValueError(f'{path} is not a 64-bit little-endian ELF file')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)

    def section(index):
        base = shoff + index * shentsize
        name_offset, = struct.unpack_from('<I', data, base)
        offset, size = struct.unpack_from('<QQ', data, base + 24)
        return name_offset, offset, size

    _, names_offset, _ = section(shstrndx)
    for index in range(shnum):
        name_offset, offset, size = section(index)
        start = names_offset + name_offset
        if data[start:data.index(b'\0', start)].decode() == name:
            return data[offset:offset + size]
    return None


def fatbin_entries(section: bytes) -> List[Dict]:
    """``{'kind': 'cubin' | 'ptx', 'arch': 'X.Y'}`` for every entry of the
    fat binaries in a ``.nv_fatbin`` section."""
    entries = []
    offset = 0
    while offset + 16 <= len(section):
        magic, _, header_size, size = struct.unpack_from(
            '<IHHQ', section, offset)
        if magic != FATBIN_MAGIC:
            offset += 8  # fat binaries are 8-byte aligned
            continue
        entry = offset + header_size
        end = entry + size
        while entry < end:
            kind, _, entry_header, payload = struct.unpack_from(
                '<HHIQ', section, entry)
            arch, = struct.unpack_from('<I', section, entry + 28)
            entries.append(
                dict(
                    kind=ENTRY_KINDS.get(kind, str(kind)),
                    arch=f'{arch // 10}.{arch % 10}'))
            entry += entry_header + payload
        offset = end
    return entries


def cuda_archs(path) -> List[str]:
    """The architectures ``X.Y`` a library holds machine code (cubins) for,
    sorted; ``X.Y+PTX`` where it holds only PTX for one."""
    section = elf_section(path, FATBIN_SECTION)
    if section is None:
        return []
    entries = fatbin_entries(section)
    cubins = {e['arch'] for e in entries if e['kind'] == 'cubin'}
    ptx = {e['arch'] for e in entries if e['kind'] == 'ptx'} - cubins
    return sorted(
        cubins | {f'{arch}+PTX'
                  for arch in ptx},
        key=lambda arch: float(arch.split('+')[0]))


def mmcv_ops_archs() -> List[str]:
    """The GPU architectures of the installed mmcv's compiled ops (empty for
    CPU-only ops); raises ImportError without compiled ops."""
    import mmcv._ext
    return cuda_archs(mmcv._ext.__file__)
