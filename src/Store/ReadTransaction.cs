using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Store;

/// <summary>
/// A consistent, immutable view of the whole store: it never changes, never blocks writers and never sees part of a
/// transaction. Taking one is an O(1) pointer read. The objects are shared: Clone one before changing it.
/// </summary>
public readonly struct ReadTransaction
{
    internal ReadTransaction(StoreRoot root)
    {
        Root = root;
    }

    internal StoreRoot Root { get; }

    /// <summary>The version of the last transaction this view includes.</summary>
    public ulong Version => Root.Version;

    public TableView<Node> Nodes => Table<Node>();

    public TableView<Service> Services => Table<Service>();

    public TableView<SwarmTask> Tasks => Table<SwarmTask>();

    public TableView<Cluster> Clusters => Table<Cluster>();

    public TableView<Network> Networks => Table<Network>();

    public TableView<Secret> Secrets => Table<Secret>();

    public TableView<Config> Configs => Table<Config>();

    public TableView<T> Table<T>()
        where T : class, IStoreObject, IMessage<T> => new((TableState<T>)Root.Tables[TableOf<T>.Index]);
}
