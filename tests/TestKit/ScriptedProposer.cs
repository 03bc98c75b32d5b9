using Shoal.Api;
using Shoal.Store;

namespace Shoal.TestKit;

/// <summary>
/// A proposer at the store's boundary: it assigns log indexes like Raft would, can hold proposals until released,
/// fail them, and replicate every committed entry to follower stores through <see cref="MemoryStore.ApplyStoreActions"/>.
/// </summary>
public sealed class ScriptedProposer : IProposer
{
    private readonly Lock _lock = new();
    private readonly List<MemoryStore> _followers = [];
    private ulong _index;

    /// <summary>Start index of the log (Raft indexes are never 0).</summary>
    public ScriptedProposer(ulong firstIndex = 100)
    {
        _index = firstIndex - 1;
    }

    /// <summary>When set, the next proposal fails with this exception and nothing commits.</summary>
    public Exception? FailNext { get; set; }

    /// <summary>When set, proposals wait for it before committing.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Every committed entry, with its index.</summary>
    public List<(ulong Index, StoreTransaction Entry)> Log { get; } = [];

    public int Proposals { get; private set; }

    public void AddFollower(MemoryStore follower) => _followers.Add(follower);

    /// <summary>Commits an entry that nobody waits for (say, from an earlier leader) and applies it everywhere.</summary>
    public ulong CommitForeign(MemoryStore leader, IReadOnlyList<StoreAction> actions)
    {
        lock (_lock)
        {
            var index = ++_index;
            var entry = new StoreTransaction { Actions = { actions } };
            Log.Add((index, entry));
            leader.ApplyStoreActions(Reparse(entry).Actions, index);
            foreach (var follower in _followers)
            {
                follower.ApplyStoreActions(Reparse(entry).Actions, index);
            }

            return index;
        }
    }

    public async ValueTask ProposeAsync(IReadOnlyList<StoreAction> actions, Action<ulong> onCommitted, CancellationToken cancellationToken)
    {
        // Serialize first, as the contract asks: the store stamps versions later.
        var entry = Reparse(new StoreTransaction { Actions = { actions } });
        Proposals++;
        if (FailNext is { } failure)
        {
            FailNext = null;
            throw failure;
        }

        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        lock (_lock)
        {
            var index = ++_index;
            Log.Add((index, entry));
            onCommitted(index);
            foreach (var follower in _followers)
            {
                follower.ApplyStoreActions(Reparse(entry).Actions, index);
            }
        }
    }

    private static StoreTransaction Reparse(StoreTransaction entry) => StoreTransaction.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(entry));
}
