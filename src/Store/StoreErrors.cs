namespace Shoal.Store;

/// <summary>A store operation was refused. The subclasses are the domain errors callers branch on;
/// the gRPC and HTTP boundaries map them to status codes.</summary>
public abstract class StoreException : Exception
{
    protected StoreException(string message)
        : base(message)
    {
    }

    protected StoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>An update carried a version that is not the stored one: somebody else wrote the object since it was read.</summary>
public sealed class UpdateOutOfSequenceException : StoreException
{
    public UpdateOutOfSequenceException(StoreObjectKind kind, string id, ulong readVersion, ulong currentVersion)
        : base($"{kind.DisplayName()} {id}: update out of sequence (the update was based on version {readVersion}, the stored object is at version {currentVersion}); read the object again and retry")
    {
        Kind = kind;
        Id = id;
        ReadVersion = readVersion;
        CurrentVersion = currentVersion;
    }

    public StoreObjectKind Kind { get; }

    public string Id { get; }

    public ulong ReadVersion { get; }

    public ulong CurrentVersion { get; }
}

/// <summary>
/// The store changed between the moment a transaction was checked against it and the moment its entry would have
/// entered the replicated log (an entry committed elsewhere was applied meanwhile): the transaction was refused
/// before it was proposed, and may be retried as it is, against the current state.
/// </summary>
public sealed class StaleTransactionException : StoreException
{
    public StaleTransactionException(ulong preparedAt, ulong current)
        : base($"the store changed while this write was being prepared (prepared at version {preparedAt}, now at {current}); retry it")
    {
        PreparedAt = preparedAt;
        Current = current;
    }

    public ulong PreparedAt { get; }

    public ulong Current { get; }
}

/// <summary>Another object of the same kind already has this name (names compare case-insensitively).</summary>
public sealed class NameConflictException : StoreException
{
    public NameConflictException(StoreObjectKind kind, string name, string existingId)
        : base($"name conflicts with an existing object: {kind.DisplayName()} {name} already exists (id {existingId})")
    {
        Kind = kind;
        Name = name;
        ExistingId = existingId;
    }

    public StoreObjectKind Kind { get; }

    public string Name { get; }

    public string ExistingId { get; }
}

/// <summary>A create used an id that is already taken.</summary>
public sealed class ObjectExistsException : StoreException
{
    public ObjectExistsException(StoreObjectKind kind, string id)
        : base($"{kind.DisplayName()} {id} already exists")
    {
        Kind = kind;
        Id = id;
    }

    public StoreObjectKind Kind { get; }

    public string Id { get; }
}

/// <summary>An update or delete named an object that does not exist (any more).</summary>
public sealed class ObjectNotFoundException : StoreException
{
    public ObjectNotFoundException(StoreObjectKind kind, string id)
        : base($"{kind.DisplayName()} {id} not found")
    {
        Kind = kind;
        Id = id;
    }

    public StoreObjectKind Kind { get; }

    public string Id { get; }
}

/// <summary>An object handed to the store is malformed (no id, for instance).</summary>
public sealed class InvalidStoreObjectException : StoreException
{
    public InvalidStoreObjectException(string message)
        : base(message)
    {
    }
}

/// <summary>A watcher fell too far behind the writers and was closed so that it could not block them.
/// The reader should start again from <see cref="MemoryStore.ViewAndWatch"/>.</summary>
public sealed class WatcherOverflowException : StoreException
{
    public WatcherOverflowException(int capacity)
        : base($"store watcher closed: it fell {capacity} events behind the writers; take a new ViewAndWatch to resynchronise")
    {
        Capacity = capacity;
    }

    public int Capacity { get; }
}
