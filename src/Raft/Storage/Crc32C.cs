using System.Buffers.Binary;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Shoal.Raft.Storage;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF), the checksum of WAL
/// records and snapshot files. System.IO.Hashing.Crc32 is CRC-32 (IEEE polynomial), a different checksum.
/// Uses the SSE4.2 or ARMv8 CRC instructions when the CPU has them and an 8-slice table otherwise; both give the same value.
/// </summary>
internal static class Crc32C
{
    private const uint Polynomial = 0x82F63B78;

    // Slicing-by-8: Table[k][b] is the CRC of byte b followed by k zero bytes.
    private static readonly uint[][] Table = BuildTable();

    /// <summary>Whether <see cref="Compute(ReadOnlySpan{byte})"/> uses CPU instructions.</summary>
    public static bool IsHardwareAccelerated => Sse42.IsSupported || Crc32.IsSupported;

    /// <summary>The CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>The CRC-32C of the bytes that gave <paramref name="crc"/> followed by <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
        => IsHardwareAccelerated ? ~UpdateHardware(~crc, data) : ~UpdateSoftware(~crc, data);

    /// <summary>The table-driven path, whatever the CPU (for tests).</summary>
    internal static uint ComputeSoftware(ReadOnlySpan<byte> data) => ~UpdateSoftware(uint.MaxValue, data);

    /// <summary>The instruction path (for tests); only when <see cref="IsHardwareAccelerated"/>.</summary>
    internal static uint ComputeHardware(ReadOnlySpan<byte> data)
    {
        if (!IsHardwareAccelerated)
        {
            throw new PlatformNotSupportedException("this CPU has no CRC-32C instructions");
        }

        return ~UpdateHardware(uint.MaxValue, data);
    }

    private static uint UpdateHardware(uint crc, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            ulong wide = crc;
            while (data.Length >= sizeof(ulong))
            {
                wide = Sse42.X64.Crc32(wide, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[sizeof(ulong)..];
            }

            crc = (uint)wide;
        }

        if (Sse42.IsSupported)
        {
            while (data.Length >= sizeof(uint))
            {
                crc = Sse42.Crc32(crc, BinaryPrimitives.ReadUInt32LittleEndian(data));
                data = data[sizeof(uint)..];
            }

            foreach (var b in data)
            {
                crc = Sse42.Crc32(crc, b);
            }

            return crc;
        }

        if (Crc32.Arm64.IsSupported)
        {
            while (data.Length >= sizeof(ulong))
            {
                crc = Crc32.Arm64.ComputeCrc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[sizeof(ulong)..];
            }
        }

        while (data.Length >= sizeof(uint))
        {
            crc = Crc32.ComputeCrc32C(crc, BinaryPrimitives.ReadUInt32LittleEndian(data));
            data = data[sizeof(uint)..];
        }

        foreach (var b in data)
        {
            crc = Crc32.ComputeCrc32C(crc, b);
        }

        return crc;
    }

    private static uint UpdateSoftware(uint crc, ReadOnlySpan<byte> data)
    {
        var t0 = Table[0];
        var t1 = Table[1];
        var t2 = Table[2];
        var t3 = Table[3];
        var t4 = Table[4];
        var t5 = Table[5];
        var t6 = Table[6];
        var t7 = Table[7];
        while (data.Length >= 8)
        {
            var low = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            var high = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t7[low & 0xFF] ^ t6[(low >> 8) & 0xFF] ^ t5[(low >> 16) & 0xFF] ^ t4[low >> 24]
                ^ t3[high & 0xFF] ^ t2[(high >> 8) & 0xFF] ^ t1[(high >> 16) & 0xFF] ^ t0[high >> 24];
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[][] BuildTable()
    {
        var table = new uint[8][];
        for (var k = 0; k < table.Length; k++)
        {
            table[k] = new uint[256];
        }

        for (uint b = 0; b < 256; b++)
        {
            var crc = b;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ Polynomial : crc >> 1;
            }

            table[0][b] = crc;
        }

        for (var b = 0; b < 256; b++)
        {
            for (var k = 1; k < table.Length; k++)
            {
                var previous = table[k - 1][b];
                table[k][b] = table[0][previous & 0xFF] ^ (previous >> 8);
            }
        }

        return table;
    }
}
