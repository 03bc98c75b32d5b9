namespace Shoal.Raft.Core;

/// <summary>How the leader replicates to one follower.</summary>
public enum ProgressState
{
    /// <summary>One append at a time until the leader finds where the logs match.</summary>
    Probe,

    /// <summary>Appends streamed optimistically, up to the inflight window.</summary>
    Replicate,

    /// <summary>A snapshot is on its way; nothing else is sent until it is applied or fails.</summary>
    Snapshot,
}

/// <summary>The leader's view of one member's log.</summary>
public sealed class Progress
{
    internal Progress(ulong next, int maxInflight)
    {
        Next = next;
        Inflights = new Inflights(maxInflight);
    }

    /// <summary>The highest index known to be replicated on the member.</summary>
    public ulong Match { get; internal set; }

    /// <summary>The next index to send.</summary>
    public ulong Next { get; internal set; }

    /// <summary>The replication state.</summary>
    public ProgressState State { get; internal set; } = ProgressState.Probe;

    /// <summary>In <see cref="ProgressState.Snapshot"/>, the index of the snapshot being sent.</summary>
    public ulong PendingSnapshot { get; internal set; }

    /// <summary>Whether the member was heard from since the last quorum check.</summary>
    public bool RecentActive { get; internal set; }

    /// <summary>In probe state, whether an append was sent and its answer is awaited.</summary>
    internal bool ProbeSent { get; set; }

    internal Inflights Inflights { get; }

    /// <summary>Whether the leader should hold back appends to this member.</summary>
    internal bool IsPaused => State switch
    {
        ProgressState.Probe => ProbeSent,
        ProgressState.Replicate => Inflights.Full,
        _ => true,
    };

    internal void BecomeProbe()
    {
        if (State == ProgressState.Snapshot)
        {
            var pending = PendingSnapshot;
            Reset(ProgressState.Probe);
            Next = Math.Max(Match + 1, pending + 1);
        }
        else
        {
            Reset(ProgressState.Probe);
            Next = Match + 1;
        }
    }

    internal void BecomeReplicate()
    {
        Reset(ProgressState.Replicate);
        Next = Match + 1;
    }

    internal void BecomeSnapshot(ulong snapshotIndex)
    {
        Reset(ProgressState.Snapshot);
        PendingSnapshot = snapshotIndex;
    }

    /// <summary>Records an acknowledgement up to <paramref name="index"/>; false when it says nothing new.</summary>
    internal bool MaybeUpdate(ulong index)
    {
        var updated = false;
        if (Match < index)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }

        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>An append up to <paramref name="last"/> was sent in replicate state.</summary>
    internal void OptimisticUpdate(ulong last) => Next = last + 1;

    /// <summary>
    /// A rejection of the append after <paramref name="rejected"/>; the member's log may match up to
    /// <paramref name="matchHint"/>. False when the rejection is stale.
    /// </summary>
    internal bool MaybeDecreaseTo(ulong rejected, ulong matchHint)
    {
        if (State == ProgressState.Replicate)
        {
            if (rejected <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true;
        }

        if (Next - 1 != rejected)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejected, matchHint + 1), Match + 1);
        ProbeSent = false;
        return true;
    }

    private void Reset(ProgressState state)
    {
        ProbeSent = false;
        PendingSnapshot = 0;
        State = state;
        Inflights.Reset();
    }
}

/// <summary>The last indexes of the appends in flight to one member, oldest first (a ring buffer).</summary>
internal sealed class Inflights(int capacity)
{
    private readonly ulong[] _buffer = new ulong[capacity];
    private int _start;

    public int Count { get; private set; }

    public bool Full => Count == _buffer.Length;

    public void Add(ulong last)
    {
        if (Full)
        {
            throw new InvalidOperationException("the inflight window is full");
        }

        _buffer[(_start + Count) % _buffer.Length] = last;
        Count++;
    }

    /// <summary>Frees every append whose last index is at most <paramref name="index"/>.</summary>
    public void FreeLE(ulong index)
    {
        while (Count > 0 && _buffer[_start] <= index)
        {
            _start = (_start + 1) % _buffer.Length;
            Count--;
        }
    }

    /// <summary>Frees the oldest append in flight.</summary>
    public void FreeFirstOne() => FreeLE(_buffer[_start]);

    public void Reset()
    {
        _start = 0;
        Count = 0;
    }
}
