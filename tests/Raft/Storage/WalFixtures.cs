using System.Text;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Raft.Storage;

namespace Shoal.Raft.Tests.Storage;

/// <summary>Builders and readers shared by the WAL tests.</summary>
internal static class WalFixtures
{
    /// <summary>Small segments, so that a few dozen entries span several of them.</summary>
    public static readonly WalOptions SmallSegments = new() { SegmentSize = WalOptions.MinSegmentSize };

    public static RaftEntry Entry(ulong index, ulong term, int size = 100) => new()
    {
        Index = index,
        Term = term,
        Data = ByteString.CopyFrom(Payload(index, term, size)),
    };

    public static List<RaftEntry> Entries(ulong first, int count, ulong term, int size = 100)
        => [.. Enumerable.Range(0, count).Select(k => Entry(first + (ulong)k, term, size))];

    public static byte[] Payload(ulong index, ulong term, int size)
    {
        var text = Encoding.ASCII.GetBytes($"entry {index} of term {term};");
        var payload = new byte[size];
        for (var k = 0; k < size; k++)
        {
            payload[k] = text[k % text.Length];
        }

        return payload;
    }

    public static WriteAheadLog Open(string directory, out RecoveredLog recovered, WalOptions? options = null, ILogger? logger = null)
        => WriteAheadLog.Open(directory, options ?? SmallSegments, logger, out recovered);

    public static RecoveredLog Reopen(string directory, WalOptions? options = null, ILogger? logger = null)
    {
        var log = Open(directory, out var recovered, options, logger);
        log.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return recovered;
    }

    public static string[] Segments(string directory)
        => [.. Directory.GetFiles(directory, "*.wal").Order(StringComparer.Ordinal)];

    /// <summary>The records of a segment file, in order, up to the first that does not read.</summary>
    public static List<WalRecord> Records(string file)
    {
        var data = File.ReadAllBytes(file);
        var records = new List<WalRecord>();
        var offset = 0;
        while (WalFormat.TryRead(data, offset, out var record) == WalReadStatus.Valid)
        {
            records.Add(record);
            offset = record.End;
        }

        return records;
    }

    public static void AssertEntries(IEnumerable<RaftEntry> expected, IReadOnlyList<RaftEntry> actual)
    {
        var list = expected.ToList();
        Assert.Equal(list.Select(e => (e.Index, e.Term)), actual.Select(e => (e.Index, e.Term)));
        Assert.Equal(list, actual);
    }
}
