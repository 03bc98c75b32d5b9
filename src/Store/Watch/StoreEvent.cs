using Shoal.Api;

namespace Shoal.Store;

public enum StoreEventKind
{
    Create = 0,
    Update = 1,
    Delete = 2,

    /// <summary>Ends the events of one transaction; carries only its version.</summary>
    Commit = 3,
}

/// <summary>
/// One change published by the store after a transaction committed. The objects are the store's own immutable
/// instances, shared by every watcher: read them, never modify them (Clone first).
/// </summary>
public sealed class StoreEvent
{
    private StoreEvent(StoreEventKind kind, StoreObjectKind objectKind, IStoreObject? obj, IStoreObject? old, ulong version)
    {
        Kind = kind;
        ObjectKind = objectKind;
        Target = obj;
        Old = old;
        Version = version;
    }

    public StoreEventKind Kind { get; }

    /// <summary>The table the object belongs to (meaningless for <see cref="StoreEventKind.Commit"/>).</summary>
    public StoreObjectKind ObjectKind { get; }

    /// <summary>The object after the change; for a delete, the object as it was when deleted. Null for a commit.</summary>
    public IStoreObject? Target { get; }

    /// <summary>The object before an update; null otherwise.</summary>
    public IStoreObject? Old { get; }

    /// <summary>The version of the transaction that made the change.</summary>
    public ulong Version { get; }

    public static StoreEvent Created(StoreObjectKind kind, IStoreObject obj, ulong version) => new(StoreEventKind.Create, kind, obj, null, version);

    public static StoreEvent Updated(StoreObjectKind kind, IStoreObject obj, IStoreObject old, ulong version) => new(StoreEventKind.Update, kind, obj, old, version);

    public static StoreEvent Deleted(StoreObjectKind kind, IStoreObject obj, ulong version) => new(StoreEventKind.Delete, kind, obj, null, version);

    public static StoreEvent Committed(ulong version) => new(StoreEventKind.Commit, default, null, null, version);

    public override string ToString() => Kind == StoreEventKind.Commit
        ? $"commit v{Version}"
        : $"{Kind.ToString().ToLowerInvariant()} {ObjectKind.DisplayName()} {Target?.Id} v{Version}";
}

/// <summary>Which events a watcher receives. Build them with the helpers: <c>StoreEventFilter.Of&lt;SwarmTask&gt;(t =&gt; t.ServiceId == id)</c>.</summary>
public delegate bool StoreEventFilter(StoreEvent storeEvent);

[Flags]
public enum StoreEventKinds
{
    None = 0,
    Create = 1,
    Update = 2,
    Delete = 4,
    All = Create | Update | Delete,
}

public static class StoreEventFilters
{
    /// <summary>Events of objects of type <typeparamref name="T"/>, of the given kinds, whose object (the new one on
    /// an update, the removed one on a delete) satisfies <paramref name="where"/>.</summary>
    public static StoreEventFilter Of<T>(StoreEventKinds kinds = StoreEventKinds.All, Func<T, bool>? where = null)
        where T : class, IStoreObject
    {
        return e => e.Target is T obj && (kinds & Bit(e.Kind)) != 0 && (where is null || where(obj));
    }

    /// <summary>Events of objects of type <typeparamref name="T"/> matching <paramref name="where"/>.</summary>
    public static StoreEventFilter Of<T>(Func<T, bool> where)
        where T : class, IStoreObject => Of(StoreEventKinds.All, where);

    /// <summary>Events accepted by any of <paramref name="filters"/>.</summary>
    public static StoreEventFilter Any(params StoreEventFilter[] filters)
    {
        return e =>
        {
            foreach (var filter in filters)
            {
                if (filter(e))
                {
                    return true;
                }
            }

            return false;
        };
    }

    private static StoreEventKinds Bit(StoreEventKind kind) => kind switch
    {
        StoreEventKind.Create => StoreEventKinds.Create,
        StoreEventKind.Update => StoreEventKinds.Update,
        StoreEventKind.Delete => StoreEventKinds.Delete,
        _ => StoreEventKinds.None,
    };
}

/// <summary>What a watcher receives and how far it may fall behind.</summary>
public sealed record WatchOptions
{
    /// <summary>Default bound on the events a watcher may leave unread before it is closed.</summary>
    public const int DefaultCapacity = 10_000;

    /// <summary>Null = every object event.</summary>
    public StoreEventFilter? Filter { get; init; }

    /// <summary>Also deliver one <see cref="StoreEventKind.Commit"/> event after each transaction's events.</summary>
    public bool IncludeCommits { get; init; }

    /// <summary>Events the watcher may leave unread; one more closes it with <see cref="WatcherOverflowException"/>.</summary>
    public int Capacity { get; init; } = DefaultCapacity;
}
