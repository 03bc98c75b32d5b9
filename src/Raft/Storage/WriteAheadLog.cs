using System.Buffers;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Shoal.Api;

namespace Shoal.Raft.Storage;

/// <summary>
/// The Raft member's write-ahead log: hard state, entries and snapshot markers in segment files (format in
/// <see cref="WalFormat"/>). Every save is one write and one fsync, whatever it holds, so one Ready's worth of
/// proposals costs one fsync (group commit). On open, a torn final write is cut away; any other damage stops the
/// member with a <see cref="WalCorruptionException"/> naming the file and offset.
/// <para>
/// Not thread-safe: one driver loop calls <see cref="SaveAsync(RaftHardState?, IReadOnlyList{RaftEntry}, CancellationToken)"/>, <see cref="SaveSnapshotMarkerAsync(RaftSnapshotMetadata, bool, CancellationToken)"/>
/// and <see cref="ReleaseTo"/>, one call at a time; an overlapping call throws <see cref="InvalidOperationException"/>.
/// Writes and fsyncs run on the calling thread (there is no asynchronous fsync); the returned tasks are complete.
/// After a failed write or fsync the log refuses all further writes: what reached the disk is unknown, and only a
/// restart (which recovers and truncates) makes it known again.
/// </para>
/// </summary>
public sealed partial class WriteAheadLog : IAsyncDisposable
{
    private readonly string _directory;
    private readonly WalOptions _options;
    private readonly IPayloadProtector _protector;
    private readonly ILogger _logger;
    private readonly List<Segment> _segments;
    private readonly ArrayBufferWriter<byte> _batch = new();
    private readonly ArrayBufferWriter<byte> _head = new();
    private SafeFileHandle _active;
    private long _activeLength;
    private RaftHardState _hardState;
    private RaftSnapshotMetadata? _marker;
    private int _busy;
    private Exception? _failure;
    private bool _disposed;

    private WriteAheadLog(string directory, WalOptions options, ILogger logger, List<Segment> segments, SafeFileHandle active, long activeLength, Replay replay)
    {
        _directory = directory;
        _options = options;
        _protector = options.Protector;
        _logger = logger;
        _segments = segments;
        _active = active;
        _activeLength = activeLength;
        _hardState = replay.HardState;
        _marker = replay.Marker;
        SnapshotIndex = replay.SnapshotIndex;
        LastIndex = replay.LastIndex;
    }

    /// <summary>Index of the last entry in the log, or of the snapshot marker when no entry is above it; 0 when empty.</summary>
    public ulong LastIndex { get; private set; }

    /// <summary>Index of the newest snapshot marker; 0 when there is none.</summary>
    public ulong SnapshotIndex { get; private set; }

    /// <summary>Number of segment files.</summary>
    public int SegmentCount => _segments.Count;

    /// <summary>
    /// Saves the hard state (when given and changed) and the entries, then fsyncs; complete means durable. Entries must
    /// be contiguous and start at or below <see cref="LastIndex"/> + 1 and above <see cref="SnapshotIndex"/>: starting
    /// below the end replaces the log from there on (a new leader's suffix). Nothing to write costs nothing.
    /// </summary>
    public ValueTask SaveAsync(RaftHardState? hardState, IReadOnlyList<RaftEntry> entries, CancellationToken cancellationToken = default)
        => SaveAsync(hardState, entries, sync: true, cancellationToken);

    /// <summary>
    /// As <see cref="SaveAsync(RaftHardState?, IReadOnlyList{RaftEntry}, CancellationToken)"/>, but with
    /// <paramref name="sync"/> false the write is not fsynced: for what may be lost in a crash without harm (a hard
    /// state whose only change is the commit index, which the member learns again). The next synced write makes it
    /// durable too.
    /// </summary>
    public ValueTask SaveAsync(RaftHardState? hardState, IReadOnlyList<RaftEntry> entries, bool sync, CancellationToken cancellationToken = default)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(entries);
            cancellationToken.ThrowIfCancellationRequested();
            Enter();
            try
            {
                Save(hardState, entries, sync);
            }
            finally
            {
                Exit();
            }

            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>Records, durably, that a snapshot at <paramref name="metadata"/>'s index exists; entries above it stay.</summary>
    public ValueTask SaveSnapshotMarkerAsync(RaftSnapshotMetadata metadata, CancellationToken cancellationToken = default)
        => SaveSnapshotMarkerAsync(metadata, replacesLog: false, cancellationToken);

    /// <summary>
    /// Records, durably, that a snapshot at <paramref name="metadata"/>'s index exists. With
    /// <paramref name="replacesLog"/> (a follower installed the leader's snapshot in place of its log), every entry
    /// saved before is discarded and the log continues at the snapshot's index + 1; otherwise (the member's own
    /// snapshot) only the entries at or below its index are.
    /// </summary>
    public ValueTask SaveSnapshotMarkerAsync(RaftSnapshotMetadata metadata, bool replacesLog, CancellationToken cancellationToken = default)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(metadata);
            cancellationToken.ThrowIfCancellationRequested();
            Enter();
            try
            {
                SaveMarker(metadata, replacesLog);
            }
            finally
            {
                Exit();
            }

            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>
    /// Deletes the oldest segments as long as every entry they hold is at or below <paramref name="index"/>; never
    /// the active segment. Call it once a snapshot at or above <paramref name="index"/> is durable and its marker
    /// saved: <paramref name="index"/> above <see cref="SnapshotIndex"/> is refused.
    /// </summary>
    public void ReleaseTo(ulong index)
    {
        Enter();
        try
        {
            if (index > SnapshotIndex)
            {
                throw new InvalidOperationException($"cannot release the raft log up to {index}: the newest snapshot marker is at {SnapshotIndex}; save the snapshot and its marker first");
            }

            var released = 0;
            while (_segments.Count > 1 && _segments[0].MaxEntryIndex <= index)
            {
                File.Delete(_segments[0].Path);
                _segments.RemoveAt(0);
                released++;
            }

            if (released > 0)
            {
                SyncDirectory();
                LogReleased(_logger, released, index);
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Closes the active segment. Every completed save is already durable.</summary>
    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            _active.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private void Save(RaftHardState? hardState, IReadOnlyList<RaftEntry> entries, bool sync)
    {
        var writeHardState = hardState is not null && !hardState.Equals(_hardState);
        if (!writeHardState && entries.Count == 0)
        {
            return;
        }

        CheckEntries(entries);
        _batch.ResetWrittenCount();
        foreach (var entry in entries)
        {
            WalFormat.AppendRecord(_batch, WalRecordType.Entry, entry, _protector);
        }

        // Entries before the hard state: a write torn between them never leaves a commit index above the last entry.
        if (writeHardState)
        {
            WalFormat.AppendRecord(_batch, WalRecordType.HardState, hardState!, _protector);
        }

        var firstIndex = entries.Count > 0 ? entries[0].Index : LastIndex + 1;
        Append(firstIndex, sync);
        if (entries.Count > 0)
        {
            LastIndex = entries[^1].Index;
            _segments[^1].MaxEntryIndex = Math.Max(_segments[^1].MaxEntryIndex, LastIndex);
        }

        if (writeHardState)
        {
            _hardState = hardState!.Clone();
        }
    }

    private void SaveMarker(RaftSnapshotMetadata metadata, bool replacesLog)
    {
        if (metadata.Index < SnapshotIndex)
        {
            throw new ArgumentException($"the snapshot marker at {metadata.Index} is older than the raft log's marker at {SnapshotIndex}", nameof(metadata));
        }

        _batch.ResetWrittenCount();
        WalFormat.AppendRecord(_batch, replacesLog ? WalRecordType.LogReplacedBySnapshot : WalRecordType.SnapshotMarker, metadata, _protector);
        Append(LastIndex + 1, sync: true);
        _marker = metadata.Clone();
        SnapshotIndex = metadata.Index;
        LastIndex = replacesLog ? metadata.Index : Math.Max(LastIndex, metadata.Index);
    }

    private void CheckEntries(IReadOnlyList<RaftEntry> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }

        var first = entries[0] ?? throw new ArgumentException("entries must not contain null", nameof(entries));
        if (first.Index <= SnapshotIndex || first.Index > LastIndex + 1)
        {
            throw new ArgumentException($"entries must start above the snapshot at {SnapshotIndex} and at most at {LastIndex + 1} (the raft log's last index + 1); got {first.Index}", nameof(entries));
        }

        for (var k = 1; k < entries.Count; k++)
        {
            var entry = entries[k] ?? throw new ArgumentException("entries must not contain null", nameof(entries));
            if (entry.Index != first.Index + (ulong)k)
            {
                throw new ArgumentException($"entries must be contiguous: entry {entry.Index} follows {entries[k - 1].Index}", nameof(entries));
            }
        }
    }

    /// <summary>Writes the batch, in a new segment when it would take the active one past the segment size, and fsyncs.</summary>
    private void Append(ulong firstIndex, bool sync)
    {
        try
        {
            var batch = _batch.WrittenMemory;
            if (_activeLength + batch.Length > _options.SegmentSize && _activeLength > _segments[^1].HeadLength)
            {
                StartSegment(_segments[^1].Sequence + 1, firstIndex, batch);
            }
            else
            {
                RandomAccess.Write(_active, batch.Span, _activeLength);
                if (_options.Fsync && sync)
                {
                    RandomAccess.FlushToDisk(_active);
                }

                _activeLength += batch.Length;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _failure = e;
            throw;
        }
    }

    /// <summary>
    /// Creates the next segment: its header, the current hard state and snapshot marker (so older segments can go),
    /// then <paramref name="batch"/>, in one write and one fsync, then an fsync of the directory for the new name.
    /// </summary>
    private void StartSegment(ulong sequence, ulong firstIndex, ReadOnlyMemory<byte> batch)
    {
        _head.ResetWrittenCount();
        WalFormat.AppendSegmentHeader(_head, sequence, firstIndex, _protector);
        if (!_hardState.Equals(EmptyHardState))
        {
            WalFormat.AppendRecord(_head, WalRecordType.HardState, _hardState, _protector);
        }

        if (_marker is not null)
        {
            WalFormat.AppendRecord(_head, WalRecordType.SnapshotMarker, _marker, _protector);
        }

        var path = Path.Combine(_directory, WalFormat.SegmentName(sequence, firstIndex));
        DurableFiles.CreatePrivateFile(path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        try
        {
            RandomAccess.Write(handle, [_head.WrittenMemory, batch], 0);
            if (_options.Fsync)
            {
                RandomAccess.FlushToDisk(handle);
            }

            SyncDirectory();
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        _active.Dispose();
        _active = handle;
        _activeLength = _head.WrittenCount + batch.Length;
        _segments.Add(new Segment(path, sequence, _head.WrittenCount));
        LogSegmentCreated(_logger, path);
    }

    private void SyncDirectory()
    {
        if (_options.Fsync)
        {
            DurableFiles.SyncDirectory(_directory);
        }
    }

    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException("the raft log was called concurrently: one driver loop must make its calls one at a time");
        }

        if (_failure is not null)
        {
            Volatile.Write(ref _busy, 0);
            throw new InvalidOperationException("an earlier write to the raft log failed, so what is on disk is unknown; restart the member to recover the log", _failure);
        }
    }

    private void Exit() => Volatile.Write(ref _busy, 0);

    /// <summary>A segment file and the largest entry index written in it (for <see cref="ReleaseTo"/>).</summary>
    private sealed class Segment(string path, ulong sequence, long headLength)
    {
        public string Path { get; } = path;

        public ulong Sequence { get; } = sequence;

        /// <summary>Bytes of header, hard state and marker the segment starts with.</summary>
        public long HeadLength { get; } = headLength;

        public ulong MaxEntryIndex { get; set; }
    }

    [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "Raft log {Directory} opened: {Segments} segments, snapshot marker at {SnapshotIndex}, {Entries} entries up to index {LastIndex}")]
    private static partial void LogOpened(ILogger logger, string directory, int segments, ulong snapshotIndex, int entries, ulong lastIndex);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Warning, Message = "Raft log {File}: cut away a torn write of {Bytes} bytes at offset {Offset} ({Reason}); nothing valid followed it, and the log continues from there")]
    private static partial void LogTornTail(ILogger logger, string file, long offset, long bytes, string reason);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "Raft log {File}: removed the last segment, whose creation was cut short ({Reason})")]
    private static partial void LogTornSegmentRemoved(ILogger logger, string file, string reason);

    [LoggerMessage(EventId = 4203, Level = LogLevel.Warning, Message = "Raft log directory {Directory}: ignoring {File}, which is not named like a segment")]
    private static partial void LogIgnoredFile(ILogger logger, string directory, string file);

    [LoggerMessage(EventId = 4204, Level = LogLevel.Debug, Message = "Raft log: started segment {File}")]
    private static partial void LogSegmentCreated(ILogger logger, string file);

    [LoggerMessage(EventId = 4205, Level = LogLevel.Debug, Message = "Raft log: deleted {Count} segments holding no entry above {Index}")]
    private static partial void LogReleased(ILogger logger, int count, ulong index);
}
