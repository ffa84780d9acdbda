"""t53: a second copy of libhdf5 under another soname, for a library to link against.

The soname is patched in place (same length), and so are the symbol version names
(HDF5_SERIAL_* -> HDF5_SERCPY_*, with their hashes in the version definitions): with the
system library in the global scope, a reference H5Dread@HDF5_SERIAL_1.8.7 from the reader
would bind to the system copy first (the global scope is searched before the reader's
own dependencies), and the copy would never be used. With its own version names, the
reader's references can only bind to the copy, or to an unversioned interposer: the agent.
Usage: libs_copy.py SRC DST"""
import struct
import sys
data = bytearray(open(sys.argv[1], "rb").read())
def rep(old, new):
    assert len(old) == len(new)
    n = data.count(old)
    assert n, old
    data[:] = data.replace(old, new)
rep(b"libhdf5_serial.so.103\0", b"libhdf5_sercpy.so.103\0")
rep(b"HDF5_SERIAL_", b"HDF5_SERCPY_")
def elf_hash(s):
    h = 0
    for c in s:
        h = ((h << 4) + c) & 0xffffffff
        g = h & 0xf0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xffffffff
    return h
e_shoff, = struct.unpack_from("<Q", data, 0x28)
e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
secs = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
for name, typ, flags, addr, off, size, link, info, align, entsize in secs:
    if typ != 0x6ffffffd:
        continue
    stroff = secs[link][4]
    p = off
    for _ in range(info):
        ver, fl, ndx, cnt, hsh, aux, nxt = struct.unpack_from("<HHHHIII", data, p)
        vda_name, = struct.unpack_from("<I", data, p + aux)
        s = bytes(data[stroff + vda_name: data.index(b"\0", stroff + vda_name)])
        struct.pack_into("<I", data, p + 8, elf_hash(s))
        p += nxt
open(sys.argv[2], "wb").write(data)
