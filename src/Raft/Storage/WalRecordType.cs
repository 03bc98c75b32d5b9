namespace Shoal.Raft.Storage;

/// <summary>What a WAL record holds (the byte after its checksum).</summary>
internal enum WalRecordType : byte
{
    /// <summary>First record of every segment: format version, sequence, first index, key check. Not sealed.</summary>
    SegmentHeader = 1,

    /// <summary>A sealed <see cref="Shoal.Api.RaftEntry"/>.</summary>
    Entry = 2,

    /// <summary>A sealed <see cref="Shoal.Api.RaftHardState"/>.</summary>
    HardState = 3,

    /// <summary>A sealed <see cref="Shoal.Api.RaftSnapshotMetadata"/>: a snapshot at its index exists; entries above it stay.</summary>
    SnapshotMarker = 4,

    /// <summary>A sealed <see cref="Shoal.Api.RaftSnapshotMetadata"/> of a snapshot that replaced the whole log (a
    /// follower that installed the leader's snapshot): every entry written before it is discarded.</summary>
    LogReplacedBySnapshot = 5,
}
