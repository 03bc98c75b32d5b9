using Shoal.Agent;
using Shoal.Api;

namespace Shoal.TestKit;

/// <summary>The current assignment set in memory: tasks, secrets and configs by ID — a stand-in for the worker where a
/// test watches what the dispatcher sends without running tasks.</summary>
public sealed class InMemoryAssignmentSink : IAssignmentSink
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SwarmTask> _tasks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Secret> _secrets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Config> _configs = new(StringComparer.Ordinal);
    private string _version = string.Empty;
    private int _messages;

    /// <summary>Raised after each applied message.</summary>
    public event EventHandler<AssignmentsMessage>? Applied;

    /// <summary>The set held now (the <c>results_in</c> of the last message applied; empty before the first).</summary>
    public string Version
    {
        get
        {
            lock (_lock)
            {
                return _version;
            }
        }
    }

    /// <summary>Messages applied so far.</summary>
    public int MessagesApplied => Volatile.Read(ref _messages);

    /// <summary>A copy of the assigned tasks.</summary>
    public IReadOnlyDictionary<string, SwarmTask> Tasks
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, SwarmTask>(_tasks, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>IDs of the assigned secrets.</summary>
    public IReadOnlyCollection<string> SecretIds
    {
        get
        {
            lock (_lock)
            {
                return [.. _secrets.Keys];
            }
        }
    }

    /// <summary>IDs of the assigned configs.</summary>
    public IReadOnlyCollection<string> ConfigIds
    {
        get
        {
            lock (_lock)
            {
                return [.. _configs.Keys];
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask ApplyAsync(AssignmentsMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_lock)
        {
            if (message.Type == AssignmentsType.AssignmentsIncremental && message.AppliesTo != _version)
            {
                throw new AssignmentSetMismatchException(message.AppliesTo, _version);
            }

            if (message.Type == AssignmentsType.AssignmentsComplete)
            {
                _tasks.Clear();
                _secrets.Clear();
                _configs.Clear();
            }

            foreach (var change in message.Changes)
            {
                var remove = change.Action == AssignmentAction.Remove;
                var item = change.Assignment;
                switch (item?.ItemCase)
                {
                    case Assignment.ItemOneofCase.Task:
                        Apply(_tasks, item.Task.Id, item.Task, remove);
                        break;
                    case Assignment.ItemOneofCase.Secret:
                        Apply(_secrets, item.Secret.Id, item.Secret, remove);
                        break;
                    case Assignment.ItemOneofCase.Config:
                        Apply(_configs, item.Config.Id, item.Config, remove);
                        break;
                    default:
                        break;
                }
            }

            _version = message.ResultsIn;
            _messages++;
        }

        Applied?.Invoke(this, message);
        return ValueTask.CompletedTask;
    }

    private static void Apply<T>(Dictionary<string, T> items, string id, T item, bool remove)
    {
        if (remove)
        {
            items.Remove(id);
        }
        else
        {
            items[id] = item;
        }
    }
}
