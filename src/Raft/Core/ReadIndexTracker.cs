using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Raft.Core;

/// <summary>
/// The leader's pending ReadIndex requests: each waits for a quorum to acknowledge a heartbeat sent after it, which
/// proves the leader was still the leader when the read's commit index was taken.
/// </summary>
internal sealed class ReadIndexTracker
{
    private readonly Dictionary<ByteString, Pending> _pending = [];
    private readonly Queue<ByteString> _order = new();

    public int Count => _order.Count;

    /// <summary>The newest pending request's context: heartbeats carry it.</summary>
    public ByteString? LastContext { get; private set; }

    public void Add(ulong index, RaftMessage request, ulong self)
    {
        var context = request.Context;
        if (_pending.ContainsKey(context))
        {
            return;
        }

        _pending[context] = new Pending(index, request, [self]);
        _order.Enqueue(context);
        LastContext = context;
    }

    /// <summary>Records an acknowledgement; returns how many members acknowledged that request.</summary>
    public int Acknowledge(ulong from, ByteString context)
    {
        if (!_pending.TryGetValue(context, out var pending))
        {
            return 0;
        }

        pending.Acks.Add(from);
        return pending.Acks.Count;
    }

    /// <summary>Releases the request with <paramref name="context"/> and every one queued before it.</summary>
    public List<(ulong Index, RaftMessage Request)> Release(ByteString context)
    {
        var released = new List<(ulong, RaftMessage)>();
        if (!_pending.ContainsKey(context))
        {
            return released;
        }

        while (_order.Count > 0)
        {
            var next = _order.Dequeue();
            var pending = _pending[next];
            _pending.Remove(next);
            released.Add((pending.Index, pending.Request));
            if (next.Equals(context))
            {
                break;
            }
        }

        if (_order.Count == 0)
        {
            LastContext = null;
        }

        return released;
    }

    public void Clear()
    {
        _pending.Clear();
        _order.Clear();
        LastContext = null;
    }

    private sealed record Pending(ulong Index, RaftMessage Request, HashSet<ulong> Acks);
}
