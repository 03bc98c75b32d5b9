using System.Buffers.Binary;
using System.Globalization;

namespace Shoal.Integration.Tests.Faults;

/// <summary>
/// The tail of a manager's Raft write-ahead log (<c>&lt;data-dir&gt;/raft/wal/*.wal</c>), read by its framing only
/// (record = u32 payload length, u32 CRC-32C, u8 type, payload; see <c>src/Raft/Storage/WalFormat.cs</c>), to tear
/// its last record the way a crash in the middle of a write would.
/// </summary>
public static class WalTail
{
    private const int RecordHeaderSize = 9;

    /// <summary>The WAL directory under a node's data directory.</summary>
    public static string Directory(string dataDirectory) => Path.Combine(dataDirectory, "raft", "wal");

    /// <summary>The newest segment (segment names sort in log order).</summary>
    /// <exception cref="FileNotFoundException">The node has no WAL segment.</exception>
    public static string NewestSegment(string dataDirectory)
    {
        var directory = Directory(dataDirectory);
        var segments = System.IO.Directory.GetFiles(directory, "*.wal");
        return segments.Length == 0
            ? throw new FileNotFoundException($"no WAL segment in {directory}")
            : segments.Order(StringComparer.Ordinal).Last();
    }

    /// <summary>
    /// Cuts the newest segment in the middle of its last record: the record's header stays, half of its payload goes.
    /// Returns what was cut.
    /// </summary>
    /// <exception cref="InvalidDataException">The segment's framing does not add up (a record runs past the file's end).</exception>
    public static TornRecord TearLastRecord(string dataDirectory)
    {
        var path = NewestSegment(dataDirectory);
        var data = File.ReadAllBytes(path);
        var offset = 0;
        var last = -1;
        var count = 0;
        while (offset < data.Length)
        {
            if (data.Length - offset < RecordHeaderSize)
            {
                throw new InvalidDataException($"{path}: {data.Length - offset} bytes at offset {offset} are too few for a record header");
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(offset));
            var end = offset + RecordHeaderSize + (long)length;
            if (end > data.Length)
            {
                throw new InvalidDataException($"{path}: the record at offset {offset} ({length} payload bytes) runs past the end of the file ({data.Length} bytes)");
            }

            last = offset;
            count++;
            offset = (int)end;
        }

        if (count < 2)
        {
            throw new InvalidDataException($"{path} holds {count} records: nothing but its header to tear");
        }

        var payload = (int)BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(last));
        var cutAt = last + RecordHeaderSize + (payload / 2);
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(handle, cutAt);
        }

        return new TornRecord(path, data.Length, last, RecordHeaderSize + payload, data[last + 8], cutAt, count);
    }
}

/// <summary>
/// The last record of <paramref name="Segment"/> (of <paramref name="Records"/>), at <paramref name="Offset"/>, of
/// <paramref name="Length"/> bytes and WAL record type <paramref name="Type"/> (2 entry, 3 hard state, 4 snapshot
/// marker), cut at <paramref name="CutAt"/>: the file went from <paramref name="OriginalLength"/> to CutAt bytes.
/// </summary>
public sealed record TornRecord(string Segment, long OriginalLength, long Offset, int Length, byte Type, long CutAt, int Records)
{
    /// <summary>Whether the torn record was a log entry (type 2) rather than hard state or a snapshot marker.</summary>
    public bool IsEntry => Type == 2;

    /// <inheritdoc/>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{Path.GetFileName(Segment)}: record {Records} of type {Type} ({Length} bytes at offset {Offset}) cut at {CutAt} ({OriginalLength - CutAt} of {OriginalLength} bytes removed)");
}
