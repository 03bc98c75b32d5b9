using Shoal.Api;

namespace Shoal.Store;

/// <summary>The tables of the store, one per object type.</summary>
public enum StoreObjectKind
{
    Node = 0,
    Service = 1,
    Task = 2,
    Cluster = 3,
    Network = 4,
    Secret = 5,
    Config = 6,
}

public static class StoreObjectKinds
{
    /// <summary>Number of tables.</summary>
    public const int Count = 7;

    /// <summary>The word operators know the kind by, as used in error messages ("service", "task").</summary>
    public static string DisplayName(this StoreObjectKind kind) => kind switch
    {
        StoreObjectKind.Node => "node",
        StoreObjectKind.Service => "service",
        StoreObjectKind.Task => "task",
        StoreObjectKind.Cluster => "cluster",
        StoreObjectKind.Network => "network",
        StoreObjectKind.Secret => "secret",
        StoreObjectKind.Config => "config",
        _ => kind.ToString(),
    };

    /// <summary>The kind of a stored object.</summary>
    public static StoreObjectKind KindOf(IStoreObject obj) => obj switch
    {
        Node => StoreObjectKind.Node,
        Service => StoreObjectKind.Service,
        SwarmTask => StoreObjectKind.Task,
        Cluster => StoreObjectKind.Cluster,
        Network => StoreObjectKind.Network,
        Secret => StoreObjectKind.Secret,
        Config => StoreObjectKind.Config,
        _ => throw new InvalidStoreObjectException($"{obj.GetType().Name} is not a store object type"),
    };
}
