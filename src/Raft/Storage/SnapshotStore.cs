using System.Buffers.Binary;
using System.Globalization;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;

namespace Shoal.Raft.Storage;

/// <summary>
/// Snapshot files, one per snapshot, named <c>{term:x16}-{index:x16}.snap</c>; the newest <c>keep</c> are kept.
/// <para>
/// A file is, integers little-endian:
/// </para>
/// <code>
/// magic    8 bytes  "SHOALSNP"
/// version  u32      1
/// crc      u32      CRC-32C of every other byte of the file (magic, version, length, payload)
/// length   u64      payload bytes
/// payload  the sealed form of: "SNAPSHOT" ‖ RaftSnapshot protobuf
/// </code>
/// <para>
/// The known prefix inside the sealed payload tells a wrong data key from damage: damage fails the CRC (the file is
/// skipped, with a warning, for an older one), while a file that passes the CRC but does not open with the key stops
/// the member with a <see cref="DataKeyMismatchException"/> rather than silently falling back.
/// A save writes a temporary file, fsyncs it, renames it into place and fsyncs the directory, so a crash leaves
/// either the whole new file or none. Saves are serialized; loading is meant for start-up.
/// </para>
/// </summary>
public sealed partial class SnapshotStore
{
    /// <summary>Snapshot file extension.</summary>
    public const string Extension = ".snap";

    /// <summary>The format this code writes and reads.</summary>
    public const uint FormatVersion = 1;

    private const string TemporarySuffix = ".tmp";
    private const int HeaderSize = 8 + sizeof(uint) + sizeof(uint) + sizeof(ulong);

    private readonly string _directory;
    private readonly int _keep;
    private readonly IPayloadProtector _protector;
    private readonly ILogger _logger;
    private readonly Lock _saveLock = new();

    /// <summary>Creates the store over <paramref name="directory"/> (created 0700 when missing).</summary>
    /// <param name="directory">Where the snapshot files are.</param>
    /// <param name="keep">How many of the newest files to keep (at least 1).</param>
    /// <param name="logger">Receives a warning for each unusable file skipped.</param>
    /// <param name="protector">Seals the payloads; pass the WAL's protector so that snapshots are encrypted too.</param>
    public SnapshotStore(string directory, int keep = 2, ILogger? logger = null, IPayloadProtector? protector = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        _directory = Path.GetFullPath(directory);
        _keep = keep;
        _protector = protector ?? NoProtection.Instance;
        _logger = logger ?? NullLogger.Instance;
        DurableFiles.CreatePrivateDirectory(_directory);
    }

    private static ReadOnlySpan<byte> Magic => "SHOALSNP"u8;

    private static ReadOnlySpan<byte> KnownPrefix => "SNAPSHOT"u8;

    /// <summary>The file name of the snapshot at (<paramref name="term"/>, <paramref name="index"/>).</summary>
    public static string FileName(ulong term, ulong index)
        => string.Create(CultureInfo.InvariantCulture, $"{term:x16}-{index:x16}{Extension}");

    /// <summary>
    /// Writes <paramref name="snapshot"/> durably under its term and index (replacing a file of that name), then
    /// deletes the oldest files beyond the number kept. Runs on the thread pool.
    /// </summary>
    public async ValueTask SaveAsync(RaftSnapshot snapshot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(snapshot.Metadata, nameof(snapshot));
        await Task.Run(() => Save(snapshot, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The newest snapshot that reads back whole, or null when there is none. A damaged file is skipped, with a
    /// warning naming it, in favour of an older one.
    /// </summary>
    /// <exception cref="DataKeyMismatchException">A file is whole but does not open with the data key.</exception>
    public RaftSnapshot? LoadNewest()
    {
        foreach (var (path, term, index) in List().OrderByDescending(f => f.Index).ThenByDescending(f => f.Term))
        {
            var snapshot = TryLoad(path, term, index, out var reason);
            if (snapshot is not null)
            {
                return snapshot;
            }

            LogSkipped(_logger, path, reason);
        }

        return null;
    }

    private void Save(RaftSnapshot snapshot, CancellationToken cancellationToken)
    {
        var file = Encode(snapshot);
        var name = FileName(snapshot.Metadata.Term, snapshot.Metadata.Index);
        var path = Path.Combine(_directory, name);
        lock (_saveLock)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var temporary = path + TemporarySuffix;
            File.Delete(temporary);
            DurableFiles.CreatePrivateFile(temporary);
            using (var handle = File.OpenHandle(temporary, FileMode.Open, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(handle, file, 0);
                RandomAccess.FlushToDisk(handle);
            }

            File.Move(temporary, path, overwrite: true);
            DurableFiles.SyncDirectory(_directory);
            LogSaved(_logger, path, file.Length);
            Prune();
        }
    }

    private byte[] Encode(RaftSnapshot snapshot)
    {
        var plainLength = KnownPrefix.Length + snapshot.CalculateSize();
        var plain = new byte[plainLength];
        KnownPrefix.CopyTo(plain);
        snapshot.WriteTo(plain.AsSpan(KnownPrefix.Length));
        var file = new byte[HeaderSize + plainLength + _protector.Overhead];
        Magic.CopyTo(file);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(16), (ulong)(plainLength + _protector.Overhead));
        _protector.Protect(plain, file.AsSpan(HeaderSize));
        Array.Clear(plain);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(12), Checksum(file));
        return file;
    }

    private RaftSnapshot? TryLoad(string path, ulong term, ulong index, out string reason)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            reason = "it cannot be read: " + e.Message;
            return null;
        }

        if (file.Length < HeaderSize || !file.AsSpan(0, 8).SequenceEqual(Magic))
        {
            reason = "it is not a snapshot file";
            return null;
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8));
        if (version != FormatVersion)
        {
            throw new NotSupportedException($"snapshot {path} is in format version {version}, and this version of shoal reads version {FormatVersion}: run the version that wrote it");
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(16)) != (ulong)(file.Length - HeaderSize))
        {
            reason = $"its length field does not match its size ({file.Length} bytes): it was cut short or damaged";
            return null;
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(12)) != Checksum(file))
        {
            reason = "its checksum (CRC-32C) does not match";
            return null;
        }

        var plain = new byte[file.Length - HeaderSize];
        if (!_protector.TryUnprotect(file.AsSpan(HeaderSize), plain, out var written) || !plain.AsSpan(0, written).StartsWith(KnownPrefix))
        {
            throw new DataKeyMismatchException(path);
        }

        RaftSnapshot snapshot;
        try
        {
            snapshot = RaftSnapshot.Parser.ParseFrom(plain.AsSpan(KnownPrefix.Length, written - KnownPrefix.Length));
        }
        catch (InvalidProtocolBufferException e)
        {
            reason = "its content does not parse: " + e.Message;
            return null;
        }
        finally
        {
            Array.Clear(plain);
        }

        if (snapshot.Metadata is null || snapshot.Metadata.Term != term || snapshot.Metadata.Index != index)
        {
            reason = $"it holds the snapshot at term {snapshot.Metadata?.Term}, index {snapshot.Metadata?.Index}, not the one its name says";
            return null;
        }

        reason = string.Empty;
        return snapshot;
    }

    /// <summary>Deletes the oldest snapshots beyond the number kept, and temporary files a crash left behind.</summary>
    private void Prune()
    {
        var deleted = false;
        foreach (var (path, _, _) in List().OrderByDescending(f => f.Index).ThenByDescending(f => f.Term).Skip(_keep))
        {
            File.Delete(path);
            LogDeleted(_logger, path);
            deleted = true;
        }

        foreach (var temporary in Directory.EnumerateFiles(_directory, "*" + Extension + TemporarySuffix))
        {
            File.Delete(temporary);
            deleted = true;
        }

        if (deleted)
        {
            DurableFiles.SyncDirectory(_directory);
        }
    }

    private List<(string Path, ulong Term, ulong Index)> List()
    {
        var found = new List<(string Path, ulong Term, ulong Index)>();
        foreach (var path in Directory.EnumerateFiles(_directory, "*" + Extension))
        {
            var name = Path.GetFileName(path).AsSpan();
            if (name.Length == 16 + 1 + 16 + Extension.Length
                && name[16] == '-'
                && ulong.TryParse(name[..16], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var term)
                && ulong.TryParse(name.Slice(17, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var index))
            {
                found.Add((path, term, index));
            }
        }

        return found;
    }

    private static uint Checksum(ReadOnlySpan<byte> file)
    {
        var crc = Crc32C.Compute(file[..12]);
        return Crc32C.Append(crc, file[16..]);
    }

    [LoggerMessage(EventId = 4210, Level = LogLevel.Warning, Message = "Snapshot {File} is unusable ({Reason}); trying an older one")]
    private static partial void LogSkipped(ILogger logger, string file, string reason);

    [LoggerMessage(EventId = 4211, Level = LogLevel.Debug, Message = "Saved snapshot {File} ({Bytes} bytes)")]
    private static partial void LogSaved(ILogger logger, string file, int bytes);

    [LoggerMessage(EventId = 4212, Level = LogLevel.Debug, Message = "Deleted old snapshot {File}")]
    private static partial void LogDeleted(ILogger logger, string file);
}
