namespace Shoal.Raft.Storage;

/// <summary>
/// The WAL is damaged somewhere other than a torn final write: a bad record with valid records after it, a bad
/// record in a segment that is not the last, a missing segment, or a gap in the entries. The member refuses to start
/// rather than serve a wrong log.
/// </summary>
public sealed class WalCorruptionException : Exception
{
    /// <summary>Creates the exception for damage in <paramref name="file"/> at <paramref name="offset"/>.</summary>
    public WalCorruptionException(string file, long offset, string reason)
        : base($"raft log {file} is damaged at offset {offset}: {reason}. The member will not start on a damaged log: restore the raft directory from a backup, or remove this manager from the swarm and join it again")
    {
        File = file;
        Offset = offset;
    }

    /// <summary>The damaged file (full path).</summary>
    public string File { get; }

    /// <summary>The byte offset in <see cref="File"/> where the damage starts.</summary>
    public long Offset { get; }
}
