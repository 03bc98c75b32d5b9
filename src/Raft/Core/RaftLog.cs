using Shoal.Api;

namespace Shoal.Raft.Core;

/// <summary>
/// The log as the core sees it: entries after the compaction point, in memory; how far they are persisted
/// (<see cref="Stable"/>), committed and applied. Invariant: compacted ≤ applied ≤ committed ≤ last, and
/// entries are contiguous from <see cref="FirstIndex"/>.
/// </summary>
internal sealed class RaftLog
{
    private readonly List<RaftEntry> _entries = [];
    private ulong _offset;     // the index of the last compacted entry (entries start at _offset + 1)
    private ulong _offsetTerm; // its term

    public RaftLog(ulong compactedIndex, ulong compactedTerm, IReadOnlyList<RaftEntry> entries, ulong committed)
    {
        _offset = compactedIndex;
        _offsetTerm = compactedTerm;
        foreach (var entry in entries)
        {
            if (entry.Index != _offset + (ulong)_entries.Count + 1)
            {
                throw new ArgumentException($"entries are not contiguous from {compactedIndex + 1}: found {entry.Index}", nameof(entries));
            }

            _entries.Add(entry);
        }

        Stable = LastIndex;
        Committed = Math.Max(committed, compactedIndex);
        Applied = compactedIndex;
        if (Committed > LastIndex)
        {
            throw new ArgumentException($"committed index {committed} is beyond the last index {LastIndex}", nameof(committed));
        }
    }

    /// <summary>Entries up to here are persisted.</summary>
    public ulong Stable { get; private set; }

    public ulong Committed { get; private set; }

    public ulong Applied { get; private set; }

    /// <summary>A snapshot received from the leader that the driver has still to persist and apply.</summary>
    public RaftSnapshot? PendingSnapshot { get; private set; }

    public ulong FirstIndex => _offset + 1;

    public ulong LastIndex => _offset + (ulong)_entries.Count;

    public ulong LastTerm => Term(LastIndex) ?? throw new InvalidOperationException("the last term is unknown");

    public ulong CompactedIndex => _offset;

    /// <summary>The term of the entry at <paramref name="index"/>; null when it is compacted or beyond the log.</summary>
    public ulong? Term(ulong index)
    {
        if (index == _offset)
        {
            return _offsetTerm;
        }

        if (index < _offset || index > LastIndex)
        {
            return null;
        }

        return _entries[(int)(index - _offset - 1)].Term;
    }

    public bool MatchTerm(ulong index, ulong term) => Term(index) == term;

    public bool IsUpToDate(ulong lastIndex, ulong term) => term > LastTerm || (term == LastTerm && lastIndex >= LastIndex);

    /// <summary>
    /// A follower's append: if our log has the entry at <paramref name="index"/> with <paramref name="logTerm"/>,
    /// take the new entries (replacing a conflicting suffix) and commit up to what the leader says. Returns the last
    /// index the append covers, or null when the logs do not match there.
    /// </summary>
    public ulong? MaybeAppend(ulong index, ulong logTerm, ulong committed, IReadOnlyList<RaftEntry> entries)
    {
        if (!MatchTerm(index, logTerm))
        {
            return null;
        }

        var lastNew = index + (ulong)entries.Count;
        var conflict = FindConflict(entries);
        if (conflict != 0)
        {
            if (conflict <= Committed)
            {
                throw new InvalidOperationException($"entry {conflict} conflicts with the committed prefix (committed {Committed})");
            }

            var from = (int)(conflict - (index + 1));
            TruncateAndAppend(entries.Skip(from).ToList());
        }

        CommitTo(Math.Min(committed, lastNew));
        return lastNew;
    }

    /// <summary>The leader's own append of new entries at the end of its log.</summary>
    public void Append(IReadOnlyList<RaftEntry> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }

        if (entries[0].Index - 1 < Committed)
        {
            throw new InvalidOperationException($"appending at {entries[0].Index} would rewrite committed entries (committed {Committed})");
        }

        TruncateAndAppend(entries);
    }

    /// <summary>The index of the first entry that is new or disagrees with ours, or 0 when all are already here.</summary>
    public ulong FindConflict(IReadOnlyList<RaftEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (!MatchTerm(entry.Index, entry.Term))
            {
                return entry.Index;
            }
        }

        return 0;
    }

    /// <summary>
    /// The last index at or below <paramref name="index"/> whose term is at most <paramref name="term"/>, with its
    /// term: where a leader's log (of <paramref name="term"/> at <paramref name="index"/>) may match ours.
    /// </summary>
    public (ulong Index, ulong Term) FindConflictByTerm(ulong index, ulong term)
    {
        while (true)
        {
            var ours = Term(index);
            if (ours is null)
            {
                return (index, 0);
            }

            if (ours <= term || index <= _offset)
            {
                return (index, ours.Value);
            }

            index--;
        }
    }

    /// <summary>Entries from <paramref name="low"/> up to <paramref name="maxBytes"/> (at least one); null if compacted.</summary>
    public List<RaftEntry>? Slice(ulong low, ulong highInclusive, long maxBytes)
    {
        if (low <= _offset)
        {
            return null;
        }

        var result = new List<RaftEntry>();
        long size = 0;
        for (var i = low; i <= highInclusive && i <= LastIndex; i++)
        {
            var entry = _entries[(int)(i - _offset - 1)];
            size += entry.Data.Length + 24;
            if (result.Count > 0 && size > maxBytes)
            {
                break;
            }

            result.Add(entry);
        }

        return result;
    }

    /// <summary>Entries not yet persisted.</summary>
    public List<RaftEntry> UnstableEntries() => Stable >= LastIndex ? [] : Slice(Stable + 1, LastIndex, long.MaxValue)!;

    /// <summary>Committed entries not yet applied, up to <paramref name="maxBytes"/>.</summary>
    public List<RaftEntry> NextCommittedEntries(long maxBytes) =>
        PendingSnapshot is not null || Applied >= Committed ? [] : Slice(Math.Max(Applied + 1, FirstIndex), Committed, maxBytes) ?? [];

    public bool HasNextCommittedEntries => PendingSnapshot is null && Applied < Committed;

    public void CommitTo(ulong index)
    {
        if (index <= Committed)
        {
            return;
        }

        if (index > LastIndex)
        {
            throw new InvalidOperationException($"commit index {index} is beyond the last index {LastIndex}");
        }

        Committed = index;
    }

    /// <summary>The leader commits <paramref name="index"/> if a quorum has it and it is of the current term.</summary>
    public bool MaybeCommit(ulong index, ulong term)
    {
        if (index > Committed && Term(index) == term)
        {
            CommitTo(index);
            return true;
        }

        return false;
    }

    /// <summary>The driver persisted entries up to <paramref name="index"/> (of <paramref name="term"/>).</summary>
    public void StableTo(ulong index, ulong term)
    {
        // If the entry was replaced meanwhile, what was persisted is not what we have: keep it unstable.
        if (index > Stable && Term(index) == term)
        {
            Stable = index;
        }
    }

    public void AppliedTo(ulong index)
    {
        if (index == 0)
        {
            return;
        }

        if (index > Committed || index < Applied)
        {
            throw new InvalidOperationException($"applied index {index} is out of range [{Applied}, {Committed}]");
        }

        Applied = index;
    }

    /// <summary>Replaces the log with a snapshot received from the leader.</summary>
    public void Restore(RaftSnapshot snapshot)
    {
        _entries.Clear();
        _offset = snapshot.Metadata.Index;
        _offsetTerm = snapshot.Metadata.Term;
        Committed = _offset;
        Stable = _offset;
        PendingSnapshot = snapshot;
    }

    /// <summary>The driver persisted and applied the pending snapshot.</summary>
    public void SnapshotApplied(ulong index)
    {
        if (PendingSnapshot is not null && PendingSnapshot.Metadata.Index == index)
        {
            PendingSnapshot = null;
            Applied = Math.Max(Applied, index);
        }
    }

    /// <summary>Drops entries up to <paramref name="index"/> (already in a snapshot, and applied).</summary>
    public void Compact(ulong index)
    {
        if (index <= _offset)
        {
            return;
        }

        if (index > Applied)
        {
            throw new InvalidOperationException($"cannot compact to {index}: only {Applied} is applied");
        }

        var term = Term(index)!.Value;
        _entries.RemoveRange(0, (int)(index - _offset));
        _offset = index;
        _offsetTerm = term;
    }

    private void TruncateAndAppend(IReadOnlyList<RaftEntry> entries)
    {
        var after = entries[0].Index - 1;
        if (after < _offset)
        {
            throw new InvalidOperationException($"cannot append at {after + 1}: entries up to {_offset} are compacted");
        }

        if (after > LastIndex)
        {
            throw new InvalidOperationException($"appending at {after + 1} would leave a gap after {LastIndex}");
        }

        if (after < LastIndex)
        {
            _entries.RemoveRange((int)(after - _offset), (int)(LastIndex - after));
        }

        if (Stable > after)
        {
            Stable = after;
        }

        _entries.AddRange(entries);
    }
}
