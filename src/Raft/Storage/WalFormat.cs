using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using Google.Protobuf;

namespace Shoal.Raft.Storage;

/// <summary>
/// The on-disk format of WAL segments (format version 1).
/// <para>
/// A segment file is named <c>{sequence:x16}-{firstIndex:x16}.wal</c> (so names sort in log order) and is a sequence
/// of records, all integers little-endian:
/// </para>
/// <code>
/// length   u32   number of payload bytes (at most MaxPayloadLength)
/// crc      u32   CRC-32C of the length field, the type byte and the payload
/// type     u8    WalRecordType
/// payload  length bytes
/// </code>
/// <para>
/// The first record of a segment is its header (type 1, not sealed): the magic <c>SHOALWAL</c>, the format version
/// (u32), the segment's sequence (u64) and first index (u64), both equal to the file name's, then a known text sealed
/// with the payload protector, so a wrong data key is found at once rather than as garbage later. Every other payload
/// is a protobuf message sealed by the <see cref="IPayloadProtector"/>; the CRC covers the sealed bytes, so damage is
/// found without the key. After its header, a segment repeats the hard state and the newest snapshot marker current
/// when it was created, so the segments before it can be deleted without losing them.
/// </para>
/// <para>
/// A new record type needs a new format version: a reader refuses a segment of a version it does not know, and a
/// whole record of a type it does not know, rather than dropping what a newer version wrote.
/// </para>
/// </summary>
internal static class WalFormat
{
    /// <summary>Bytes before a record's payload.</summary>
    public const int RecordHeaderSize = 9;

    /// <summary>Largest payload a record may have (sealed); anything longer is damage.</summary>
    public const int MaxPayloadLength = 128 * 1024 * 1024;

    /// <summary>The format this code writes and reads.</summary>
    public const uint FormatVersion = 1;

    /// <summary>Segment file extension.</summary>
    public const string SegmentExtension = ".wal";

    private const int SegmentHeaderFixedSize = 8 + sizeof(uint) + sizeof(ulong) + sizeof(ulong);
    private const WalRecordType LastType = WalRecordType.LogReplacedBySnapshot;

    private static ReadOnlySpan<byte> Magic => "SHOALWAL"u8;

    private static ReadOnlySpan<byte> KeyCheck => "shoal raft wal: the data key opens this segment"u8;

    /// <summary>The file name of a segment.</summary>
    public static string SegmentName(ulong sequence, ulong firstIndex)
        => string.Create(CultureInfo.InvariantCulture, $"{sequence:x16}-{firstIndex:x16}{SegmentExtension}");

    /// <summary>Parses a segment's file name.</summary>
    public static bool TryParseSegmentName(string fileName, out ulong sequence, out ulong firstIndex)
    {
        sequence = 0;
        firstIndex = 0;
        var name = fileName.AsSpan();
        return name.Length == 16 + 1 + 16 + SegmentExtension.Length
            && name[16] == '-'
            && name.EndsWith(SegmentExtension, StringComparison.Ordinal)
            && ulong.TryParse(name[..16], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out sequence)
            && ulong.TryParse(name.Slice(17, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out firstIndex);
    }

    /// <summary>Appends a segment header record.</summary>
    public static void AppendSegmentHeader(ArrayBufferWriter<byte> output, ulong sequence, ulong firstIndex, IPayloadProtector protector)
    {
        var payloadLength = SegmentHeaderFixedSize + KeyCheck.Length + protector.Overhead;
        var record = output.GetSpan(RecordHeaderSize + payloadLength)[..(RecordHeaderSize + payloadLength)];
        var payload = record[RecordHeaderSize..];
        Magic.CopyTo(payload);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[8..], FormatVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[12..], sequence);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[20..], firstIndex);
        protector.Protect(KeyCheck, payload[SegmentHeaderFixedSize..]);
        Seal(record, WalRecordType.SegmentHeader);
        output.Advance(record.Length);
    }

    /// <summary>Appends a record whose payload is <paramref name="message"/>, sealed.</summary>
    public static void AppendRecord(ArrayBufferWriter<byte> output, WalRecordType type, IMessage message, IPayloadProtector protector)
    {
        var plainLength = message.CalculateSize();
        var payloadLength = plainLength + protector.Overhead;
        if (payloadLength > MaxPayloadLength)
        {
            throw new ArgumentException($"a {type} record of {payloadLength} bytes is over the WAL's limit of {MaxPayloadLength} bytes", nameof(message));
        }

        var record = output.GetSpan(RecordHeaderSize + payloadLength)[..(RecordHeaderSize + payloadLength)];
        if (protector is NoProtection)
        {
            message.WriteTo(record[RecordHeaderSize..]);
        }
        else
        {
            var plain = ArrayPool<byte>.Shared.Rent(plainLength);
            try
            {
                message.WriteTo(plain.AsSpan(0, plainLength));
                protector.Protect(plain.AsSpan(0, plainLength), record[RecordHeaderSize..]);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(plain, clearArray: true);
            }
        }

        Seal(record, type);
        output.Advance(record.Length);
    }

    /// <summary>Reads the record at <paramref name="offset"/>; <see cref="WalReadStatus.End"/> when the data ends there.</summary>
    public static WalReadStatus TryRead(ReadOnlySpan<byte> data, int offset, out WalRecord record)
    {
        record = default;
        var remaining = data.Length - offset;
        if (remaining == 0)
        {
            return WalReadStatus.End;
        }

        if (remaining < RecordHeaderSize)
        {
            return WalReadStatus.HeaderCutShort;
        }

        var header = data.Slice(offset, RecordHeaderSize);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (length > MaxPayloadLength)
        {
            return WalReadStatus.LengthTooLarge;
        }

        if (length > remaining - RecordHeaderSize)
        {
            return WalReadStatus.PayloadCutShort;
        }

        var payload = data.Slice(offset + RecordHeaderSize, (int)length);
        if (Checksum(header, payload) != BinaryPrimitives.ReadUInt32LittleEndian(header[4..]))
        {
            return WalReadStatus.ChecksumMismatch;
        }

        var type = (WalRecordType)header[8];
        record = new WalRecord(type, offset, offset + RecordHeaderSize, (int)length);
        return IsKnown(type) ? WalReadStatus.Valid : WalReadStatus.UnknownType;
    }

    /// <summary>The offset of the first whole, valid record that starts after <paramref name="offset"/>, or -1.
    /// Used to tell a torn write (nothing valid after it) from damage inside the log.</summary>
    public static int FindValidRecordAfter(ReadOnlySpan<byte> data, int offset)
    {
        for (var candidate = offset + 1; candidate <= data.Length - RecordHeaderSize; candidate++)
        {
            // The type byte filters out most candidates before a checksum is computed.
            if (IsKnown((WalRecordType)data[candidate + 8]) && TryRead(data, candidate, out _) == WalReadStatus.Valid)
            {
                return candidate;
            }
        }

        return -1;
    }

    /// <summary>Checks a segment header's payload against the file it is in and the protector in use.</summary>
    public static SegmentHeaderStatus CheckSegmentHeader(ReadOnlySpan<byte> payload, ulong sequence, ulong firstIndex, IPayloadProtector protector, out uint version)
    {
        version = 0;
        if (payload.Length < SegmentHeaderFixedSize || !payload[..8].SequenceEqual(Magic))
        {
            return SegmentHeaderStatus.NotASegment;
        }

        version = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        if (version != FormatVersion)
        {
            return SegmentHeaderStatus.UnsupportedVersion;
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(payload[12..]) != sequence || BinaryPrimitives.ReadUInt64LittleEndian(payload[20..]) != firstIndex)
        {
            return SegmentHeaderStatus.NameMismatch;
        }

        var sealedCheck = payload[SegmentHeaderFixedSize..];
        var check = new byte[sealedCheck.Length];
        return protector.TryUnprotect(sealedCheck, check, out var written)
            && check.AsSpan(0, written).SequenceEqual(KeyCheck)
            ? SegmentHeaderStatus.Valid
            : SegmentHeaderStatus.KeyMismatch;
    }

    /// <summary>What a damaged record looks like, for error messages.</summary>
    public static string Describe(WalReadStatus status) => status switch
    {
        WalReadStatus.HeaderCutShort => "the record header is cut short",
        WalReadStatus.PayloadCutShort => "the record is cut short",
        WalReadStatus.LengthTooLarge => "the record length is impossible",
        WalReadStatus.UnknownType => "the record is whole but of an unknown type",
        WalReadStatus.ChecksumMismatch => "the record checksum (CRC-32C) does not match",
        _ => status.ToString(),
    };

    private static bool IsKnown(WalRecordType type) => type is > 0 and <= LastType;

    private static void Seal(Span<byte> record, WalRecordType type)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(record.Length - RecordHeaderSize));
        record[8] = (byte)type;
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], Checksum(record[..RecordHeaderSize], record[RecordHeaderSize..]));
    }

    private static uint Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        var crc = Crc32C.Compute(header[..4]);
        crc = Crc32C.Append(crc, header.Slice(8, 1));
        return Crc32C.Append(crc, payload);
    }
}

/// <summary>A whole, valid record inside a segment's bytes.</summary>
internal readonly record struct WalRecord(WalRecordType Type, int Offset, int PayloadOffset, int PayloadLength)
{
    /// <summary>Where the next record starts.</summary>
    public int End => PayloadOffset + PayloadLength;
}

/// <summary>The outcome of reading one record.</summary>
internal enum WalReadStatus
{
    Valid,
    End,
    HeaderCutShort,
    PayloadCutShort,
    LengthTooLarge,
    ChecksumMismatch,

    /// <summary>Whole (the checksum matches) but of a type this version does not know: never a torn write.</summary>
    UnknownType,
}

/// <summary>The outcome of checking a segment header.</summary>
internal enum SegmentHeaderStatus
{
    Valid,
    NotASegment,
    UnsupportedVersion,
    NameMismatch,
    KeyMismatch,
}
