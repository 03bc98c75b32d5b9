using Shoal.Api;

namespace Shoal.Store;

/// <summary>
/// The seam between the store and consensus. A write transaction with a proposer attached becomes visible only
/// once the proposer reports it committed; the Raft glue implements this (the store knows nothing of Raft).
/// </summary>
/// <remarks>
/// Contract:
/// <list type="bullet">
/// <item>Serialize or copy <c>actions</c> before returning from the first await: the store stamps the final
/// <c>meta.version</c> on its objects when the entry commits.</item>
/// <item>When the entry commits, call <c>onCommitted(index)</c> exactly once, synchronously, in log order with
/// every other committed entry (<see cref="MemoryStore.ApplyStoreActions"/> for entries nobody here waits for), and
/// with an index greater than any version applied before. The store publishes the transaction inside that call.</item>
/// <item>Complete the returned task after <c>onCommitted</c> ran. Throw (a typed error such as "leadership lost")
/// when the entry will not be committed by this proposal; then never call <c>onCommitted</c> for it. If such an
/// entry commits after all, it is an ordinary committed entry: apply it with <see cref="MemoryStore.ApplyStoreActions"/>.</item>
/// </list>
/// </remarks>
public interface IProposer
{
    ValueTask ProposeAsync(IReadOnlyList<StoreAction> actions, Action<ulong> onCommitted, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="ProposeAsync(IReadOnlyList{StoreAction}, Action{ulong}, CancellationToken)"/>, for a transaction
    /// checked against the store at <paramref name="baseVersion"/>. A proposer that can tell, atomically with the
    /// application of committed entries, that the store has moved past that version since refuses the entry with
    /// <see cref="StaleTransactionException"/> instead of proposing it: its checks (names, versions) were made against
    /// a state that no longer is. The default proposes without that check.
    /// </summary>
    ValueTask ProposeAsync(IReadOnlyList<StoreAction> actions, ulong baseVersion, Action<ulong> onCommitted, CancellationToken cancellationToken) =>
        ProposeAsync(actions, onCommitted, cancellationToken);
}

/// <summary>Limits of the store; the defaults are DESIGN §13's.</summary>
public sealed record StoreOptions
{
    /// <summary>A batch cuts a transaction at this many changes.</summary>
    public int MaxChangesPerTransaction { get; init; } = 200;

    /// <summary>A batch cuts a transaction before its actions exceed this many bytes (1 MiB).</summary>
    public int MaxTransactionBytes { get; init; } = 1024 * 1024;
}
