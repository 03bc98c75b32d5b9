using Shoal.Api;

namespace Shoal.Raft.Storage;

public sealed partial class WriteAheadLog
{
    /// <summary>
    /// The log as the records read so far describe it: the newest hard state and snapshot marker, and the entries
    /// above the snapshot. A later entry at index i replaces every entry at i and above (a new leader's suffix).
    /// </summary>
    private sealed class Replay
    {
        private readonly List<RaftEntry> _entries = [];
        private string _firstEntryFile = string.Empty;
        private long _firstEntryOffset;

        public RaftHardState HardState { get; set; } = new();

        public RaftSnapshotMetadata? Marker { get; private set; }

        public ulong SnapshotIndex { get; private set; }

        public List<RaftEntry> Entries => _entries;

        /// <summary>The last index of the log: its last entry, or the snapshot's index when it has none above it.</summary>
        public ulong LastIndex => _entries.Count > 0 ? _entries[^1].Index : SnapshotIndex;

        public void AddEntry(RaftEntry entry, string file, long offset)
        {
            var index = entry.Index;
            TruncateFrom(index);
            if (index <= SnapshotIndex)
            {
                return;
            }

            if (_entries.Count > 0 && index != _entries[^1].Index + 1)
            {
                throw new WalCorruptionException(file, offset, $"entry {index} follows entry {_entries[^1].Index}: the log has a gap");
            }

            if (_entries.Count == 0)
            {
                _firstEntryFile = file;
                _firstEntryOffset = offset;
            }

            _entries.Add(entry);
        }

        public void AddMarker(RaftSnapshotMetadata metadata, bool replacesLog)
        {
            if (replacesLog)
            {
                _entries.Clear();
            }
            else if (metadata.Index < SnapshotIndex)
            {
                return;
            }

            Marker = metadata;
            SnapshotIndex = metadata.Index;
            if (_entries.Count > 0 && _entries[0].Index <= SnapshotIndex)
            {
                var covered = (int)Math.Min((ulong)_entries.Count, SnapshotIndex - _entries[0].Index + 1);
                _entries.RemoveRange(0, covered);
            }
        }

        /// <summary>Checks that the entries start right after the snapshot (or at 1).</summary>
        public void CheckStart()
        {
            if (_entries.Count > 0 && _entries[0].Index != SnapshotIndex + 1)
            {
                throw new WalCorruptionException(
                    _firstEntryFile,
                    _firstEntryOffset,
                    $"the log resumes at entry {_entries[0].Index} but the snapshot marker is at {SnapshotIndex}: entries {SnapshotIndex + 1} to {_entries[0].Index - 1} are missing (a deleted or lost segment?)");
            }
        }

        private void TruncateFrom(ulong index)
        {
            if (_entries.Count == 0 || index > _entries[^1].Index)
            {
                return;
            }

            var first = _entries[0].Index;
            if (index <= first)
            {
                _entries.Clear();
            }
            else
            {
                var keep = (int)(index - first);
                _entries.RemoveRange(keep, _entries.Count - keep);
            }
        }
    }
}
