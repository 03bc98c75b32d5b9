namespace Shoal.Store;

/// <summary>One immutable state of the whole store: a table per kind and the version of the last transaction.
/// Swapping the root is how a transaction becomes visible, all at once.</summary>
internal sealed class StoreRoot
{
    public StoreRoot(ITable[] tables, ulong version)
    {
        Tables = tables;
        Version = version;
    }

    public static StoreRoot Empty { get; } = new(
        [
            TableState<Shoal.Api.Node>.Empty,
            TableState<Shoal.Api.Service>.Empty,
            TableState<Shoal.Api.SwarmTask>.Empty,
            TableState<Shoal.Api.Cluster>.Empty,
            TableState<Shoal.Api.Network>.Empty,
            TableState<Shoal.Api.Secret>.Empty,
            TableState<Shoal.Api.Config>.Empty,
        ],
        0);

    /// <summary>Indexed by <see cref="StoreObjectKind"/>. Never modified after construction.</summary>
    public ITable[] Tables { get; }

    public ulong Version { get; }
}
