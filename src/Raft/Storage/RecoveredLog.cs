using Shoal.Api;

namespace Shoal.Raft.Storage;

/// <summary>What <see cref="WriteAheadLog.Open"/> read back: the state to restart the Raft core from.</summary>
public sealed class RecoveredLog
{
    /// <summary>The last hard state saved; all zero when none was.</summary>
    public required RaftHardState HardState { get; init; }

    /// <summary>The WAL's newest snapshot marker, or null when no snapshot was recorded. The snapshot itself is in
    /// the <see cref="SnapshotStore"/>.</summary>
    public required RaftSnapshotMetadata? SnapshotMetadata { get; init; }

    /// <summary>The entries after the snapshot's index (from index 1 without one), contiguous, with overwritten
    /// suffixes already replaced.</summary>
    public required IReadOnlyList<RaftEntry> Entries { get; init; }
}
