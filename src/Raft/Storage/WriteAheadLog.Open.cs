using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using Shoal.Api;

namespace Shoal.Raft.Storage;

public sealed partial class WriteAheadLog
{
    private static readonly RaftHardState EmptyHardState = new();

    /// <summary>
    /// Opens the log in <paramref name="directory"/> (created 0700 when missing) and reads it back. A record cut short
    /// or failing its checksum at the end of the last segment, with nothing valid after it, is a write torn by a crash:
    /// it was never acknowledged, so it is cut away (with a warning) and the log continues from there.
    /// </summary>
    /// <exception cref="WalCorruptionException">Damage anywhere else: the member must not start on this log.</exception>
    /// <exception cref="DataKeyMismatchException">The log was sealed with another data key.</exception>
    /// <exception cref="NotSupportedException">The log was written by a version of another format.</exception>
    /// <exception cref="IOException">The log is open elsewhere (its active segment is locked), or the disk failed.</exception>
    public static WriteAheadLog Open(string directory, WalOptions options, ILogger? logger, out RecoveredLog recovered)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        logger ??= NullLogger.Instance;
        directory = Path.GetFullPath(directory);
        DurableFiles.CreatePrivateDirectory(directory, options.Fsync);

        var replay = new Replay();
        var segments = new List<Segment>();
        long activeLength = 0;
        var found = ListSegments(directory, logger);
        for (var k = 0; k < found.Count; k++)
        {
            var (path, sequence, firstIndex) = found[k];
            var read = ReadSegment(path, sequence, firstIndex, isLast: k == found.Count - 1, options, replay, logger);
            if (read is null)
            {
                continue;
            }

            segments.Add(read.Value.Segment);
            activeLength = read.Value.ValidLength;
        }

        replay.CheckStart();
        recovered = Recovered(replay);
        WriteAheadLog log;
        if (segments.Count == 0)
        {
            // A new log, or one whose only segment was torn while being created.
            log = new WriteAheadLog(directory, options, logger, segments, new SafeFileHandle(), 0, replay);
            log.StartSegment(found.Count > 0 ? found[^1].Sequence : 1, replay.LastIndex + 1, ReadOnlyMemory<byte>.Empty);
        }
        else
        {
            var active = File.OpenHandle(segments[^1].Path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            log = new WriteAheadLog(directory, options, logger, segments, active, activeLength, replay);
        }

        LogOpened(logger, directory, segments.Count, replay.SnapshotIndex, replay.Entries.Count, replay.LastIndex);
        return log;
    }

    private static RecoveredLog Recovered(Replay replay) => new()
    {
        HardState = replay.HardState.Clone(),
        SnapshotMetadata = replay.Marker?.Clone(),
        Entries = [.. replay.Entries],
    };

    /// <summary>The segment files in log order; a gap in their sequence means a lost segment.</summary>
    private static List<(string Path, ulong Sequence, ulong FirstIndex)> ListSegments(string directory, ILogger logger)
    {
        var found = new List<(string Path, ulong Sequence, ulong FirstIndex)>();
        foreach (var path in Directory.EnumerateFiles(directory, "*" + WalFormat.SegmentExtension))
        {
            if (WalFormat.TryParseSegmentName(Path.GetFileName(path), out var sequence, out var firstIndex))
            {
                found.Add((path, sequence, firstIndex));
            }
            else
            {
                LogIgnoredFile(logger, directory, Path.GetFileName(path));
            }
        }

        found.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        for (var k = 1; k < found.Count; k++)
        {
            if (found[k].Sequence != found[k - 1].Sequence + 1)
            {
                throw new WalCorruptionException(found[k].Path, 0, $"the segment before it (sequence {found[k - 1].Sequence + 1}) is missing");
            }
        }

        return found;
    }

    /// <summary>
    /// Replays one segment. Returns null when it was the last one and its own creation was torn (it is deleted), and
    /// otherwise its length once a torn tail is cut away.
    /// </summary>
    private static (Segment Segment, long ValidLength)? ReadSegment(
        string path, ulong sequence, ulong firstIndex, bool isLast, WalOptions options, Replay replay, ILogger logger)
    {
        var data = File.ReadAllBytes(path);
        var status = WalFormat.TryRead(data, 0, out var header);
        if (status != WalReadStatus.Valid || header.Type != WalRecordType.SegmentHeader)
        {
            var reason = status == WalReadStatus.Valid ? "the segment does not start with a header" : "the segment header is unreadable: " + WalFormat.Describe(status);
            if (!isLast || status == WalReadStatus.Valid || WalFormat.FindValidRecordAfter(data, 0) >= 0)
            {
                throw new WalCorruptionException(path, 0, reason);
            }

            // Created, never completed: a crash in the first write of a segment. Nothing in it was acknowledged.
            File.Delete(path);
            if (options.Fsync)
            {
                DurableFiles.SyncDirectory(Path.GetDirectoryName(path)!);
            }

            LogTornSegmentRemoved(logger, path, status == WalReadStatus.End ? "it is empty" : reason);
            return null;
        }

        var headerPayload = data.AsSpan(header.PayloadOffset, header.PayloadLength);
        switch (WalFormat.CheckSegmentHeader(headerPayload, sequence, firstIndex, options.Protector, out var version))
        {
            case SegmentHeaderStatus.Valid:
                break;
            case SegmentHeaderStatus.KeyMismatch:
                throw new DataKeyMismatchException(path);
            case SegmentHeaderStatus.UnsupportedVersion:
                throw new NotSupportedException($"raft log {path} is in format version {version}, and this version of shoal reads version {WalFormat.FormatVersion}: run the version that wrote it");
            case SegmentHeaderStatus.NameMismatch:
                throw new WalCorruptionException(path, 0, "the segment header names another sequence or first index than the file name");
            default:
                throw new WalCorruptionException(path, 0, "the file is not a raft log segment");
        }

        var segment = new Segment(path, sequence, header.End);
        var plain = new byte[1024];
        var offset = header.End;
        while (true)
        {
            status = WalFormat.TryRead(data, offset, out var record);
            if (status == WalReadStatus.End)
            {
                break;
            }

            if (status == WalReadStatus.Valid)
            {
                Apply(path, record, data, options.Protector, ref plain, replay, segment);
                offset = record.End;
                continue;
            }

            if (status == WalReadStatus.UnknownType)
            {
                throw new NotSupportedException($"raft log {path} has a record of type {(byte)record.Type} at offset {offset}, which this version of shoal does not know: run the version that wrote it");
            }

            if (!isLast)
            {
                throw new WalCorruptionException(path, offset, WalFormat.Describe(status) + ", in a segment that is not the last one");
            }

            var next = WalFormat.FindValidRecordAfter(data, offset);
            if (next >= 0)
            {
                throw new WalCorruptionException(path, offset, $"{WalFormat.Describe(status)}, and a valid record follows at offset {next}, so this is not a torn write");
            }

            LogTornTail(logger, path, offset, data.Length - offset, WalFormat.Describe(status));
            using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                RandomAccess.SetLength(handle, offset);
                if (options.Fsync)
                {
                    RandomAccess.FlushToDisk(handle);
                }
            }

            break;
        }

        return (segment, offset);
    }

    private static void Apply(string path, WalRecord record, byte[] data, IPayloadProtector protector, ref byte[] plain, Replay replay, Segment segment)
    {
        var sealedPayload = data.AsSpan(record.PayloadOffset, record.PayloadLength);
        ReadOnlySpan<byte> payload;
        if (protector is NoProtection)
        {
            payload = sealedPayload;
        }
        else
        {
            if (plain.Length < sealedPayload.Length)
            {
                plain = new byte[Math.Max(sealedPayload.Length, plain.Length * 2)];
            }

            if (!protector.TryUnprotect(sealedPayload, plain, out var written))
            {
                throw new WalCorruptionException(path, record.Offset, "the record's checksum matches but it does not open with the data key that opens its segment header");
            }

            payload = plain.AsSpan(0, written);
        }

        try
        {
            switch (record.Type)
            {
                case WalRecordType.Entry:
                    var entry = RaftEntry.Parser.ParseFrom(payload);
                    replay.AddEntry(entry, path, record.Offset);
                    segment.MaxEntryIndex = Math.Max(segment.MaxEntryIndex, entry.Index);
                    break;
                case WalRecordType.HardState:
                    replay.HardState = RaftHardState.Parser.ParseFrom(payload);
                    break;
                case WalRecordType.SnapshotMarker:
                case WalRecordType.LogReplacedBySnapshot:
                    replay.AddMarker(RaftSnapshotMetadata.Parser.ParseFrom(payload), record.Type == WalRecordType.LogReplacedBySnapshot);
                    break;
                default:
                    throw new WalCorruptionException(path, record.Offset, "a segment header in the middle of a segment");
            }
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WalCorruptionException(path, record.Offset, $"the {record.Type} record's checksum matches but its content does not parse ({e.Message})");
        }
    }
}
