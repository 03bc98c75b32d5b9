using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Store;

/// <summary>A secondary index of a table: the key an object is filed under, or null when it is not indexed.</summary>
public sealed record TableIndex<T>(string Name, Func<T, IndexKey?> KeyOf)
    where T : class, IStoreObject;

/// <summary>How one object type is kept: its name, whether names are unique, its secondary indexes, and how it is
/// wrapped into a <see cref="StoreAction"/> and a <see cref="StoreSnapshot"/>.</summary>
public sealed class TableSchema<T>
    where T : class, IStoreObject, IMessage<T>
{
    public required StoreObjectKind Kind { get; init; }

    /// <summary>The name the object is found by; empty when it has none.</summary>
    public required Func<T, string> NameOf { get; init; }

    /// <summary>Whether two objects of this kind may share a name (case-insensitively).</summary>
    public required bool UniqueNames { get; init; }

    public required IReadOnlyList<TableIndex<T>> Indexes { get; init; }

    public required Func<StoreAction, T?> FromAction { get; init; }

    public required Action<StoreAction, T> ToAction { get; init; }

    public required Func<StoreSnapshot, IList<T>> SnapshotList { get; init; }

    /// <summary>Position of <paramref name="name"/> in <see cref="Indexes"/>.</summary>
    public int IndexOf(string name)
    {
        for (var i = 0; i < Indexes.Count; i++)
        {
            if (Indexes[i].Name == name)
            {
                return i;
            }
        }

        throw new ArgumentException($"table {Kind.DisplayName()} has no index '{name}'", nameof(name));
    }
}

/// <summary>The schema of every table, and the static lookup from a type to its table.</summary>
public static class Schemas
{
    public const string TaskByService = "service";
    public const string TaskByNode = "node";
    public const string TaskBySlot = "slot";
    public const string TaskByDesiredState = "desired-state";
    public const string TaskByState = "state";
    public const string NodeByRole = "role";
    public const string NodeByMembership = "membership";

    public static readonly TableSchema<Node> Node = new()
    {
        Kind = StoreObjectKind.Node,
        // Nodes are known by their spec name when the operator set one, by their hostname otherwise; hostnames repeat.
        NameOf = n => n.Spec?.Annotations?.Name is { Length: > 0 } name ? name : n.Description?.Hostname ?? string.Empty,
        UniqueNames = false,
        Indexes =
        [
            new(NodeByRole, n => IndexKey.Of((long)n.Role)),
            new(NodeByMembership, n => IndexKey.Of((long)(n.Spec?.Membership ?? NodeMembership.Pending))),
        ],
        FromAction = a => a.Node,
        ToAction = (a, o) => a.Node = o,
        SnapshotList = s => s.Nodes,
    };

    public static readonly TableSchema<Service> Service = new()
    {
        Kind = StoreObjectKind.Service,
        NameOf = s => s.Spec?.Annotations?.Name ?? string.Empty,
        UniqueNames = true,
        Indexes = [],
        FromAction = a => a.Service,
        ToAction = (a, o) => a.Service = o,
        SnapshotList = s => s.Services,
    };

    public static readonly TableSchema<SwarmTask> Task = new()
    {
        Kind = StoreObjectKind.Task,
        NameOf = t => t.Annotations?.Name ?? string.Empty,
        UniqueNames = false,
        Indexes =
        [
            new(TaskByService, t => t.ServiceId.Length > 0 ? IndexKey.Of(t.ServiceId) : null),
            new(TaskByNode, t => t.NodeId.Length > 0 ? IndexKey.Of(t.NodeId) : null),
            new(TaskBySlot, t => t.ServiceId.Length > 0 ? new IndexKey(t.ServiceId, t.Slot) : null),
            new(TaskByDesiredState, t => IndexKey.Of((long)t.DesiredState)),
            new(TaskByState, t => IndexKey.Of((long)(t.Status?.State ?? TaskState.New))),
        ],
        FromAction = a => a.Task,
        ToAction = (a, o) => a.Task = o,
        SnapshotList = s => s.Tasks,
    };

    public static readonly TableSchema<Cluster> Cluster = new()
    {
        Kind = StoreObjectKind.Cluster,
        NameOf = c => c.Spec?.Annotations?.Name ?? string.Empty,
        UniqueNames = true,
        Indexes = [],
        FromAction = a => a.Cluster,
        ToAction = (a, o) => a.Cluster = o,
        SnapshotList = s => s.Clusters,
    };

    public static readonly TableSchema<Network> Network = new()
    {
        Kind = StoreObjectKind.Network,
        NameOf = n => n.Spec?.Annotations?.Name ?? string.Empty,
        UniqueNames = true,
        Indexes = [],
        FromAction = a => a.Network,
        ToAction = (a, o) => a.Network = o,
        SnapshotList = s => s.Networks,
    };

    public static readonly TableSchema<Secret> Secret = new()
    {
        Kind = StoreObjectKind.Secret,
        NameOf = s => s.Spec?.Annotations?.Name ?? string.Empty,
        UniqueNames = true,
        Indexes = [],
        FromAction = a => a.Secret,
        ToAction = (a, o) => a.Secret = o,
        SnapshotList = s => s.Secrets,
    };

    public static readonly TableSchema<Config> Config = new()
    {
        Kind = StoreObjectKind.Config,
        NameOf = c => c.Spec?.Annotations?.Name ?? string.Empty,
        UniqueNames = true,
        Indexes = [],
        FromAction = a => a.Config,
        ToAction = (a, o) => a.Config = o,
        SnapshotList = s => s.Configs,
    };

    internal static readonly int TaskServiceIndex = Task.IndexOf(TaskByService);
    internal static readonly int TaskNodeIndex = Task.IndexOf(TaskByNode);
    internal static readonly int TaskSlotIndex = Task.IndexOf(TaskBySlot);
    internal static readonly int TaskDesiredStateIndex = Task.IndexOf(TaskByDesiredState);
    internal static readonly int TaskStateIndex = Task.IndexOf(TaskByState);
    internal static readonly int NodeRoleIndex = Node.IndexOf(NodeByRole);
    internal static readonly int NodeMembershipIndex = Node.IndexOf(NodeByMembership);
}

/// <summary>Static lookup from an object type to its table number and schema.</summary>
public static class TableOf<T>
    where T : class, IStoreObject, IMessage<T>
{
    public static readonly TableSchema<T> Schema = Find();

    public static readonly int Index = (int)Schema.Kind;

    private static TableSchema<T> Find()
    {
        object schema = typeof(T) switch
        {
            _ when typeof(T) == typeof(Node) => Schemas.Node,
            _ when typeof(T) == typeof(Service) => Schemas.Service,
            _ when typeof(T) == typeof(SwarmTask) => Schemas.Task,
            _ when typeof(T) == typeof(Cluster) => Schemas.Cluster,
            _ when typeof(T) == typeof(Network) => Schemas.Network,
            _ when typeof(T) == typeof(Secret) => Schemas.Secret,
            _ when typeof(T) == typeof(Config) => Schemas.Config,
            _ => throw new InvalidStoreObjectException($"{typeof(T).Name} is not a store object type"),
        };
        return (TableSchema<T>)schema;
    }
}
