using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Shoal.Api;

namespace Shoal.Store;

/// <summary>One change of a write transaction: the action for the log and what the watchers will be told.</summary>
internal readonly record struct Change(StoreObjectKind Kind, StoreActionKind ActionKind, IStoreObject Object, IStoreObject? Old, StoreAction Action);

/// <summary>
/// The only way to change the store. Reads see the transaction's own writes. Nothing is visible to anyone else until
/// the transaction commits, all at once; if the callback throws, nothing happens at all. Keep callbacks short and
/// free of I/O: one transaction writes at a time.
/// </summary>
public sealed class WriteTransaction
{
    private readonly ITable[] _tables;
    private readonly Timestamp _now;
    private readonly bool _measure;
    private bool _closed;

    internal WriteTransaction(StoreRoot root, Timestamp now, bool measure)
    {
        Base = root;
        _tables = (ITable[])root.Tables.Clone();
        _now = now;
        _measure = measure;
        ProvisionalVersion = root.Version + 1;
    }

    /// <summary>The published state this transaction started from; null once it can no longer be assumed.</summary>
    internal StoreRoot? Base { get; set; }

    internal List<Change> Changes { get; } = [];

    /// <summary>Serialized size of the actions so far (measured only inside a batch).</summary>
    internal long Bytes { get; private set; }

    /// <summary>The version objects carry while the transaction is open; the final one is stamped on commit.</summary>
    internal ulong ProvisionalVersion { get; set; }

    public TableView<Node> Nodes => Table<Node>();

    public TableView<Service> Services => Table<Service>();

    public TableView<SwarmTask> Tasks => Table<SwarmTask>();

    public TableView<Cluster> Clusters => Table<Cluster>();

    public TableView<Network> Networks => Table<Network>();

    public TableView<Secret> Secrets => Table<Secret>();

    public TableView<Config> Configs => Table<Config>();

    public TableView<T> Table<T>()
        where T : class, IStoreObject, IMessage<T> => new(State<T>());

    /// <summary>Adds a new object. The store keeps its own copy and sets its meta; the id must be set and unused, and
    /// a kind with unique names refuses a name already taken.</summary>
    public void Create<T>(T obj)
        where T : class, IStoreObject, IMessage<T>
    {
        EnsureOpen();
        ArgumentNullException.ThrowIfNull(obj);
        var schema = TableOf<T>.Schema;
        if (string.IsNullOrEmpty(obj.Id))
        {
            throw new InvalidStoreObjectException($"cannot create a {schema.Kind.DisplayName()} without an id");
        }

        var table = State<T>();
        if (table.Get(obj.Id) is not null)
        {
            throw new ObjectExistsException(schema.Kind, obj.Id);
        }

        var copy = obj.Clone();
        CheckName(table, copy, null);
        copy.Meta = new Meta { Version = ProvisionalVersion, CreatedAt = _now, UpdatedAt = _now };
        Record(table.Upsert(null, copy), new Change(schema.Kind, StoreActionKind.Create, copy, null, Action(StoreActionKind.Create, copy)));
    }

    /// <summary>Replaces a stored object. <paramref name="obj"/>'s <c>meta.version</c> must be the version it was read
    /// at, else <see cref="UpdateOutOfSequenceException"/>: somebody wrote it since.</summary>
    public void Update<T>(T obj)
        where T : class, IStoreObject, IMessage<T>
    {
        EnsureOpen();
        ArgumentNullException.ThrowIfNull(obj);
        var schema = TableOf<T>.Schema;
        var table = State<T>();
        var old = table.Get(obj.Id ?? string.Empty) ?? throw new ObjectNotFoundException(schema.Kind, obj.Id ?? string.Empty);
        var readVersion = obj.Meta?.Version ?? 0;
        if (readVersion != old.Meta.Version)
        {
            throw new UpdateOutOfSequenceException(schema.Kind, obj.Id!, readVersion, old.Meta.Version);
        }

        var copy = obj.Clone();
        CheckName(table, copy, old);
        copy.Meta = new Meta { Version = ProvisionalVersion, CreatedAt = old.Meta.CreatedAt, UpdatedAt = _now };
        Record(table.Upsert(old, copy), new Change(schema.Kind, StoreActionKind.Update, copy, old, Action(StoreActionKind.Update, copy)));
    }

    /// <summary>Removes the object with this id; <see cref="ObjectNotFoundException"/> when there is none.</summary>
    public void Delete<T>(string id)
        where T : class, IStoreObject, IMessage<T>
    {
        EnsureOpen();
        var schema = TableOf<T>.Schema;
        var table = State<T>();
        var old = table.Get(id) ?? throw new ObjectNotFoundException(schema.Kind, id);
        Record(table.Remove(old), new Change(schema.Kind, StoreActionKind.Remove, old, null, Action(StoreActionKind.Remove, old)));
    }

    internal ITable[] Tables => _tables;

    internal Savepoint Save() => new((ITable[])_tables.Clone(), Changes.Count, Bytes);

    internal void RollbackTo(Savepoint savepoint)
    {
        savepoint.Tables.CopyTo(_tables, 0);
        Changes.RemoveRange(savepoint.Changes, Changes.Count - savepoint.Changes);
        Bytes = savepoint.Bytes;
    }

    /// <summary>Drops the first <paramref name="count"/> changes, which were committed on their own.</summary>
    internal void Forget(int count, long bytes)
    {
        Changes.RemoveRange(0, count);
        Bytes -= bytes;
    }

    internal void Close() => _closed = true;

    private TableState<T> State<T>()
        where T : class, IStoreObject, IMessage<T> => (TableState<T>)_tables[TableOf<T>.Index];

    private void Record<T>(TableState<T> table, Change change)
        where T : class, IStoreObject, IMessage<T>
    {
        _tables[TableOf<T>.Index] = table;
        Changes.Add(change);
        if (_measure)
        {
            Bytes += change.Action.CalculateSize();
        }
    }

    private static void CheckName<T>(TableState<T> table, T obj, T? old)
        where T : class, IStoreObject, IMessage<T>
    {
        var schema = TableOf<T>.Schema;
        if (!schema.UniqueNames)
        {
            return;
        }

        var name = schema.NameOf(obj);
        if (name.Length == 0 || (old is not null && string.Equals(schema.NameOf(old), name, StringComparison.OrdinalIgnoreCase)))
        {
            return;
        }

        foreach (var id in table.LookupName(name))
        {
            if (id != obj.Id)
            {
                throw new NameConflictException(schema.Kind, name, id);
            }
        }
    }

    private static StoreAction Action<T>(StoreActionKind kind, T obj)
        where T : class, IStoreObject, IMessage<T>
    {
        var action = new StoreAction { Kind = kind };
        TableOf<T>.Schema.ToAction(action, obj);
        return action;
    }

    private void EnsureOpen()
    {
        if (_closed)
        {
            throw new InvalidOperationException("the write transaction is over: use the transaction only inside its callback");
        }
    }

    internal readonly record struct Savepoint(ITable[] Tables, int Changes, long Bytes);
}
