using Google.Protobuf;
using Shoal.Api;
using Shoal.Raft;
using Shoal.Store;

namespace Shoal.Manager;

/// <summary>
/// The glue between the store and Raft (the store knows nothing of Raft, nor Raft of the store). A store write
/// becomes one Raft entry holding its <see cref="StoreTransaction"/>; the transaction is published when the entry is
/// applied, at the entry's index as the store version. Entries proposed elsewhere (on another leader, or here
/// before a failover) are applied as they commit, so every manager's store is the same at the same index.
/// </summary>
public sealed class StoreProposer : IProposer, IRaftStateMachine, IDisposable
{
    private MemoryStore? _store;
    private RaftNode? _raft;

    /// <summary>The store this proposer serves (set once, right after the store is made with this proposer).</summary>
    public MemoryStore Store => _store ?? throw new InvalidOperationException("the store is not attached yet");

    /// <summary>The Raft member the store writes go through.</summary>
    public RaftNode Raft => _raft ?? throw new InvalidOperationException("the Raft member is not attached yet");

    /// <summary>Makes a store whose writes go through this proposer.</summary>
    public MemoryStore CreateStore(TimeProvider? timeProvider = null, StoreOptions? options = null)
    {
        if (_store is not null)
        {
            throw new InvalidOperationException("this proposer already has a store");
        }

        _store = new MemoryStore(this, timeProvider, options);
        return _store;
    }

    /// <summary>Attaches the Raft member, once started with this object as its state machine.</summary>
    public void Attach(RaftNode raft)
    {
        if (_raft is not null)
        {
            throw new InvalidOperationException("this proposer already has a Raft member");
        }

        _raft = raft;
    }

    /// <inheritdoc/>
    /// <exception cref="Raft.Core.NotLeaderException">This manager is not the leader (the exception names it).</exception>
    /// <exception cref="LeadershipLostException">Leadership was lost before the write committed.</exception>
    public async ValueTask ProposeAsync(IReadOnlyList<StoreAction> actions, Action<ulong> onCommitted, CancellationToken cancellationToken) =>
        await Raft.ProposeAsync(Serialize(actions), onCommitted, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    /// <exception cref="StaleTransactionException">The store applied another entry after the transaction was checked
    /// (for example, this member was a follower then and has since become leader): nothing was proposed.</exception>
    public async ValueTask ProposeAsync(IReadOnlyList<StoreAction> actions, ulong baseVersion, Action<ulong> onCommitted, CancellationToken cancellationToken)
    {
        var data = Serialize(actions);
        ulong seen = 0;
        try
        {
            await Raft.ProposeAsync(data, onCommitted, () => (seen = Store.View().Version) == baseVersion ? null : "stale", cancellationToken).ConfigureAwait(false);
        }
        catch (Raft.Core.ProposalRefusedException)
        {
            throw new StaleTransactionException(baseVersion, seen);
        }
    }

    /// <summary>The entry's payload, made before the first await, as <see cref="IProposer"/>'s contract asks.</summary>
    private static ByteString Serialize(IReadOnlyList<StoreAction> actions)
    {
        var transaction = new StoreTransaction();
        transaction.Actions.AddRange(actions);
        return transaction.ToByteString();
    }

    /// <inheritdoc/>
    public void Apply(ulong index, ReadOnlyMemory<byte> data)
    {
        var transaction = StoreTransaction.Parser.ParseFrom(data.Span);
        Store.ApplyStoreActions(transaction.Actions, index);
    }

    /// <inheritdoc/>
    public Func<byte[]> CaptureSnapshot()
    {
        var view = Store.View();
        return () => MemoryStore.Save(view).ToByteArray();
    }

    /// <summary>Disposes the store this proposer made.</summary>
    public void Dispose() => _store?.Dispose();

    /// <inheritdoc/>
    public void Restore(ReadOnlyMemory<byte> data, ulong index) => Store.Restore(StoreSnapshot.Parser.ParseFrom(data.Span));
}
