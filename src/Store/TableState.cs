using System.Collections.Immutable;
using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Store;

/// <summary>The untyped face of a table, for the parts of the store that handle every kind alike.</summary>
internal interface ITable
{
    StoreObjectKind Kind { get; }

    int Count { get; }

    IStoreObject? Find(string id);

    /// <summary>Applies a committed action as it is (no checks: the leader made them), stamping <paramref name="version"/>.</summary>
    ITable Apply(StoreAction action, ulong version, List<StoreEvent> events);

    void SaveTo(StoreSnapshot snapshot);

    /// <summary>A table holding the snapshot's objects, with the events that turn this table into it.</summary>
    ITable RestoreFrom(StoreSnapshot snapshot, List<StoreEvent> events);
}

/// <summary>
/// One table: immutable maps from id to object, a sorted id set (id-prefix lookups, ordered scans), a name index and
/// the schema's secondary indexes. Every change returns a new table that shares all untouched structure, so a reader
/// holding an old table keeps a consistent view at no cost.
/// </summary>
internal sealed class TableState<T> : ITable
    where T : class, IStoreObject, IMessage<T>
{
    private static readonly ImmutableSortedSet<string> EmptyIds = ImmutableSortedSet.Create<string>(StringComparer.Ordinal);
    private static readonly ImmutableDictionary<string, T> EmptyById = ImmutableDictionary.Create<string, T>(StringComparer.Ordinal);
    private static readonly ImmutableDictionary<string, ImmutableSortedSet<string>> EmptyNames =
        ImmutableDictionary.Create<string, ImmutableSortedSet<string>>(StringComparer.OrdinalIgnoreCase);
    private static readonly ImmutableDictionary<IndexKey, ImmutableSortedSet<string>> EmptyIndex =
        ImmutableDictionary<IndexKey, ImmutableSortedSet<string>>.Empty;

    public static readonly TableState<T> Empty = new(
        EmptyById,
        EmptyIds,
        EmptyNames,
        [.. TableOf<T>.Schema.Indexes.Select(_ => EmptyIndex)]);

    private TableState(
        ImmutableDictionary<string, T> byId,
        ImmutableSortedSet<string> ids,
        ImmutableDictionary<string, ImmutableSortedSet<string>> byName,
        ImmutableArray<ImmutableDictionary<IndexKey, ImmutableSortedSet<string>>> indexes)
    {
        ById = byId;
        Ids = ids;
        ByName = byName;
        Indexes = indexes;
    }

    public static TableSchema<T> Schema => TableOf<T>.Schema;

    public StoreObjectKind Kind => Schema.Kind;

    public int Count => ById.Count;

    public ImmutableDictionary<string, T> ById { get; }

    public ImmutableSortedSet<string> Ids { get; }

    public ImmutableDictionary<string, ImmutableSortedSet<string>> ByName { get; }

    public ImmutableArray<ImmutableDictionary<IndexKey, ImmutableSortedSet<string>>> Indexes { get; }

    public IStoreObject? Find(string id) => ById.GetValueOrDefault(id);

    public T? Get(string id) => ById.GetValueOrDefault(id);

    /// <summary>The ids filed under <paramref name="key"/> in index number <paramref name="index"/>.</summary>
    public ImmutableSortedSet<string> Lookup(int index, IndexKey key) => Indexes[index].GetValueOrDefault(key) ?? EmptyIds;

    public ImmutableSortedSet<string> LookupName(string name) => ByName.GetValueOrDefault(name) ?? EmptyIds;

    /// <summary>Puts <paramref name="value"/> in place of <paramref name="old"/> (null when it is new).</summary>
    public TableState<T> Upsert(T? old, T value)
    {
        var byId = ById.SetItem(value.Id, value);
        var ids = old is null ? Ids.Add(value.Id) : Ids;
        var byName = ByName;
        var oldName = old is null ? string.Empty : Schema.NameOf(old);
        var newName = Schema.NameOf(value);
        if (!string.Equals(oldName, newName, StringComparison.Ordinal))
        {
            byName = Unfile(byName, oldName, value.Id);
            byName = File(byName, newName, value.Id);
        }

        var indexes = Indexes;
        var schemaIndexes = Schema.Indexes;
        for (var i = 0; i < schemaIndexes.Count; i++)
        {
            var oldKey = old is null ? null : schemaIndexes[i].KeyOf(old);
            var newKey = schemaIndexes[i].KeyOf(value);
            if (oldKey != newKey)
            {
                var index = indexes[i];
                if (oldKey is { } o)
                {
                    index = Unfile(index, o, value.Id);
                }

                if (newKey is { } n)
                {
                    index = File(index, n, value.Id);
                }

                indexes = indexes.SetItem(i, index);
            }
        }

        return new TableState<T>(byId, ids, byName, indexes);
    }

    public TableState<T> Remove(T old)
    {
        var indexes = Indexes;
        var schemaIndexes = Schema.Indexes;
        for (var i = 0; i < schemaIndexes.Count; i++)
        {
            if (schemaIndexes[i].KeyOf(old) is { } key)
            {
                indexes = indexes.SetItem(i, Unfile(indexes[i], key, old.Id));
            }
        }

        return new TableState<T>(ById.Remove(old.Id), Ids.Remove(old.Id), Unfile(ByName, Schema.NameOf(old), old.Id), indexes);
    }

    /// <summary>Builds a table from scratch (restore): one pass per index, no intermediate tables.</summary>
    public static TableState<T> Build(IEnumerable<T> objects)
    {
        var byId = EmptyById.ToBuilder();
        foreach (var obj in objects)
        {
            byId[obj.Id] = obj;
        }

        var all = byId.Values.ToList();
        var names = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var obj in all)
        {
            var name = Schema.NameOf(obj);
            if (name.Length > 0)
            {
                (names.TryGetValue(name, out var list) ? list : names[name] = []).Add(obj.Id);
            }
        }

        var byName = EmptyNames.ToBuilder();
        foreach (var (name, list) in names)
        {
            byName[name] = ImmutableSortedSet.CreateRange(StringComparer.Ordinal, list);
        }

        var indexes = ImmutableArray.CreateBuilder<ImmutableDictionary<IndexKey, ImmutableSortedSet<string>>>(Schema.Indexes.Count);
        foreach (var schemaIndex in Schema.Indexes)
        {
            var groups = new Dictionary<IndexKey, List<string>>();
            foreach (var obj in all)
            {
                if (schemaIndex.KeyOf(obj) is { } key)
                {
                    (groups.TryGetValue(key, out var list) ? list : groups[key] = []).Add(obj.Id);
                }
            }

            var index = EmptyIndex.ToBuilder();
            foreach (var (key, list) in groups)
            {
                index[key] = ImmutableSortedSet.CreateRange(StringComparer.Ordinal, list);
            }

            indexes.Add(index.ToImmutable());
        }

        return new TableState<T>(
            byId.ToImmutable(),
            ImmutableSortedSet.CreateRange(StringComparer.Ordinal, byId.Keys),
            byName.ToImmutable(),
            indexes.MoveToImmutable());
    }

    public ITable Apply(StoreAction action, ulong version, List<StoreEvent> events)
    {
        var incoming = Schema.FromAction(action)
            ?? throw new InvalidStoreObjectException($"store action {action.Kind} carries no {Kind.DisplayName()}");

        // Committed actions come from the log (or another store): take a private copy before stamping it.
        var obj = incoming.Clone();
        var old = Get(obj.Id);
        switch (action.Kind)
        {
            case StoreActionKind.Create:
            case StoreActionKind.Update:
                obj.Meta ??= new Meta();
                obj.Meta.Version = version;
                events.Add(old is null ? StoreEvent.Created(Kind, obj, version) : StoreEvent.Updated(Kind, obj, old, version));
                return Upsert(old, obj);
            case StoreActionKind.Remove:
                if (old is null)
                {
                    return this;
                }

                events.Add(StoreEvent.Deleted(Kind, old, version));
                return Remove(old);
            default:
                throw new InvalidStoreObjectException($"unknown store action kind {action.Kind}");
        }
    }

    public void SaveTo(StoreSnapshot snapshot)
    {
        var list = Schema.SnapshotList(snapshot);
        foreach (var id in Ids)
        {
            list.Add(ById[id]);
        }
    }

    public ITable RestoreFrom(StoreSnapshot snapshot, List<StoreEvent> events)
    {
        var restored = Build(Schema.SnapshotList(snapshot));
        var version = snapshot.Version;
        foreach (var id in Ids)
        {
            if (!restored.ById.ContainsKey(id))
            {
                events.Add(StoreEvent.Deleted(Kind, ById[id], version));
            }
        }

        foreach (var id in restored.Ids)
        {
            var now = restored.ById[id];
            if (!ById.TryGetValue(id, out var before))
            {
                events.Add(StoreEvent.Created(Kind, now, version));
            }
            else if (!before.Equals(now))
            {
                events.Add(StoreEvent.Updated(Kind, now, before, version));
            }
        }

        return restored;
    }

    private static ImmutableDictionary<TKey, ImmutableSortedSet<string>> File<TKey>(
        ImmutableDictionary<TKey, ImmutableSortedSet<string>> index, TKey key, string id)
        where TKey : notnull
    {
        if (key is string { Length: 0 })
        {
            return index;
        }

        var bucket = index.GetValueOrDefault(key) ?? EmptyIds;
        return index.SetItem(key, bucket.Add(id));
    }

    private static ImmutableDictionary<TKey, ImmutableSortedSet<string>> Unfile<TKey>(
        ImmutableDictionary<TKey, ImmutableSortedSet<string>> index, TKey key, string id)
        where TKey : notnull
    {
        if (key is string { Length: 0 } || !index.TryGetValue(key, out var bucket))
        {
            return index;
        }

        bucket = bucket.Remove(id);
        return bucket.IsEmpty ? index.Remove(key) : index.SetItem(key, bucket);
    }
}
