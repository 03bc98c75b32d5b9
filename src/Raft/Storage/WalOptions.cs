namespace Shoal.Raft.Storage;

/// <summary>Node-local settings of the write-ahead log.</summary>
public sealed record WalOptions
{
    /// <summary>Smallest segment size accepted.</summary>
    public const long MinSegmentSize = 4 * 1024;

    /// <summary>Largest segment size accepted (segments are read whole at start).</summary>
    public const long MaxSegmentSize = 1024L * 1024 * 1024;

    /// <summary>
    /// Size at which the log moves to a new segment: a save that would take the active segment past it goes to a new
    /// one, so a segment is larger only when a single save is.
    /// </summary>
    /// <value>64 MiB.</value>
    public long SegmentSize { get; init; } = 64L * 1024 * 1024;

    /// <summary>Seals every payload (encryption at rest).</summary>
    /// <value><see cref="NoProtection.Instance"/>.</value>
    public IPayloadProtector Protector { get; init; } = NoProtection.Instance;

    /// <summary>Whether saves are fsynced (files and directory). Only tests that do not crash turn it off.</summary>
    /// <value>True.</value>
    public bool Fsync { get; init; } = true;

    internal void Validate()
    {
        if (SegmentSize is < MinSegmentSize or > MaxSegmentSize)
        {
            throw new ArgumentOutOfRangeException(nameof(SegmentSize), SegmentSize, $"the WAL segment size must be between {MinSegmentSize} and {MaxSegmentSize} bytes");
        }

        ArgumentNullException.ThrowIfNull(Protector);
    }
}
