using System.Collections.Immutable;
using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Store;

/// <summary>Read access to one table in one consistent state. Cheap to create; holds no lock.</summary>
public readonly struct TableView<T>
    where T : class, IStoreObject, IMessage<T>
{
    internal TableView(TableState<T> table)
    {
        Table = table;
    }

    internal TableState<T> Table { get; }

    public int Count => Table.Count;

    /// <summary>The object with this exact id, or null.</summary>
    public T? Get(string id) => Table.Get(id);

    /// <summary>Every object, in id order.</summary>
    public ObjectSet<T> All() => new(Table.Ids, Table.ById);

    /// <summary>Objects whose name equals <paramref name="name"/>, compared case-insensitively.</summary>
    public ObjectSet<T> ByName(string name) => new(Table.LookupName(name), Table.ById);

    /// <summary>Objects whose id starts with <paramref name="prefix"/> (an empty prefix finds nothing).</summary>
    public ObjectSet<T> ByIdPrefix(string prefix)
    {
        if (prefix.Length == 0)
        {
            return new(ImmutableSortedSet.Create<string>(StringComparer.Ordinal), Table.ById);
        }

        var ids = Table.Ids;
        var start = ids.IndexOf(prefix);
        if (start < 0)
        {
            start = ~start;
        }

        var end = start;
        while (end < ids.Count && ids[end].StartsWith(prefix, StringComparison.Ordinal))
        {
            end++;
        }

        var found = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        for (var i = start; i < end; i++)
        {
            found.Add(ids[i]);
        }

        return new(found.ToImmutable(), Table.ById);
    }

    /// <summary>Objects filed under <paramref name="key"/> in the schema index named <paramref name="index"/>.</summary>
    public ObjectSet<T> ByIndex(string index, IndexKey key) => ByIndex(TableState<T>.Schema.IndexOf(index), key);

    internal ObjectSet<T> ByIndex(int index, IndexKey key) => new(Table.Lookup(index, key), Table.ById);

    /// <summary>
    /// Resolves what operators type where an object is expected: an exact id, else an exact name, else a unique id
    /// prefix. Ambiguity and absence are answered with null and a reason.
    /// </summary>
    public T? Resolve(string reference, out string? error)
    {
        error = null;
        if (Get(reference) is { } exact)
        {
            return exact;
        }

        var named = ByName(reference);
        if (named.Count == 1)
        {
            return named.First();
        }

        if (named.Count > 1)
        {
            error = $"{Table.Kind.DisplayName()} {reference} is ambiguous ({named.Count} matches found)";
            return null;
        }

        var prefixed = ByIdPrefix(reference);
        if (prefixed.Count == 1)
        {
            return prefixed.First();
        }

        error = prefixed.Count > 1
            ? $"{Table.Kind.DisplayName()} {reference} is ambiguous ({prefixed.Count} matches found)"
            : $"{Table.Kind.DisplayName()} {reference} not found";
        return null;
    }
}

/// <summary>Typed lookups on the task and node indexes.</summary>
public static class TableViewIndexes
{
    public static ObjectSet<SwarmTask> ByService(this TableView<SwarmTask> tasks, string serviceId) =>
        tasks.ByIndex(Schemas.TaskServiceIndex, IndexKey.Of(serviceId));

    public static ObjectSet<SwarmTask> ByNode(this TableView<SwarmTask> tasks, string nodeId) =>
        tasks.ByIndex(Schemas.TaskNodeIndex, IndexKey.Of(nodeId));

    public static ObjectSet<SwarmTask> BySlot(this TableView<SwarmTask> tasks, string serviceId, long slot) =>
        tasks.ByIndex(Schemas.TaskSlotIndex, new IndexKey(serviceId, slot));

    public static ObjectSet<SwarmTask> ByDesiredState(this TableView<SwarmTask> tasks, TaskState state) =>
        tasks.ByIndex(Schemas.TaskDesiredStateIndex, IndexKey.Of((long)state));

    public static ObjectSet<SwarmTask> ByState(this TableView<SwarmTask> tasks, TaskState state) =>
        tasks.ByIndex(Schemas.TaskStateIndex, IndexKey.Of((long)state));

    public static ObjectSet<Node> ByRole(this TableView<Node> nodes, NodeRole role) =>
        nodes.ByIndex(Schemas.NodeRoleIndex, IndexKey.Of((long)role));

    public static ObjectSet<Node> ByMembership(this TableView<Node> nodes, NodeMembership membership) =>
        nodes.ByIndex(Schemas.NodeMembershipIndex, IndexKey.Of((long)membership));
}
