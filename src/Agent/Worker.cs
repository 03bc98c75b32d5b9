using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Agent.Executors;
using Shoal.Api;

namespace Shoal.Agent;

/// <summary>Node-local settings of the worker.</summary>
public sealed record WorkerOptions
{
    /// <summary>The node's data directory; the task database is in <c>&lt;data-dir&gt;/worker</c>.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>The worker's own directory, <c>&lt;data-dir&gt;/worker</c>.</summary>
    public string WorkerDirectory => Path.Combine(DataDirectory, "worker");
}

/// <summary>
/// The worker (DESIGN §9): reconciles the node's assignments — a complete set, then increments — into one
/// <see cref="TaskManager"/> per task. A task that leaves the set (absent from a complete set, or removed by an
/// increment) was deleted by the managers: it is stopped, removed from its runtime (its directory and logs go) and
/// forgotten. On start it loads the task database, so tasks that ran before an agent restart are re-adopted (or their
/// end is learnt) and reported, never moved back to an earlier state.
/// </summary>
/// <remarks>
/// Disposing stops the worker but not the tasks: processes keep running under their shims, and the next worker on
/// the same data directory takes them over.
/// </remarks>
public sealed partial class Worker : IAssignmentSink, IAsyncDisposable
{
    private readonly IExecutor _executor;
    private readonly TaskDb _db;
    private readonly StatusReporter _reporter;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, TaskManager> _tasks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _removals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Secret> _secrets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Config> _configs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private string _version = string.Empty;
    private bool _started;

    /// <param name="options">Where the task database lives.</param>
    /// <param name="executor">The runtime tasks run in.</param>
    /// <param name="report">
    /// Delivers a batch of status updates and completes when they were accepted; typically
    /// <c>(updates, ct) =&gt; session.ReportStatusAsync(updates, ct)</c>. Never called concurrently.
    /// </param>
    /// <param name="timeProvider">The clock of status timestamps, stop grace periods and retries.</param>
    /// <param name="loggerFactory">Where to log.</param>
    public Worker(
        WorkerOptions options,
        IExecutor executor,
        Func<IReadOnlyList<TaskStatusUpdate>, CancellationToken, Task> report,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DataDirectory, nameof(options));
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(report);
        _executor = executor;
        _time = timeProvider ?? TimeProvider.System;
        _loggers = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggers.CreateLogger<Worker>();
        _db = new TaskDb(options.WorkerDirectory, _loggers.CreateLogger<TaskDb>());
        _reporter = new StatusReporter(report, _time, _loggers.CreateLogger<StatusReporter>());
    }

    /// <summary>The assignment set held now (the <c>results_in</c> of the last message applied; empty before the first).</summary>
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

    /// <summary>The tasks this worker runs, with the status it last reported for each.</summary>
    public IReadOnlyDictionary<string, SwarmTask> Tasks
    {
        get
        {
            lock (_lock)
            {
                return _tasks.ToDictionary(t => t.Key, t => t.Value.Task, StringComparer.Ordinal);
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

    /// <summary>Tasks being stopped and removed now.</summary>
    public int RemovalsInProgress
    {
        get
        {
            lock (_lock)
            {
                return _removals.Count;
            }
        }
    }

    /// <summary>
    /// Loads the task database and carries on with every task recorded (re-adopting running ones), reporting each one's
    /// last status again. Idempotent; <see cref="ApplyAsync"/> calls it when it was not called before.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            if (_started)
            {
                return Task.CompletedTask;
            }

            _started = true;
            var loaded = _db.Load();
            foreach (var task in loaded)
            {
                _reporter.Enqueue(new TaskStatusUpdate { TaskId = task.Id, Status = task.Status.Clone() });
                Add(task);
            }

            _reporter.Start();
            LogStarted(_logger, loaded.Count);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask ApplyAsync(AssignmentsMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        await StartAsync(cancellationToken);
        lock (_lock)
        {
            if (message.Type == AssignmentsType.AssignmentsIncremental && message.AppliesTo != _version)
            {
                throw new AssignmentSetMismatchException(message.AppliesTo, _version);
            }

            if (message.Type == AssignmentsType.AssignmentsComplete)
            {
                var kept = message.Changes
                    .Where(c => c.Action != AssignmentAction.Remove && c.Assignment?.ItemCase == Assignment.ItemOneofCase.Task)
                    .Select(c => c.Assignment.Task.Id)
                    .ToHashSet(StringComparer.Ordinal);
                foreach (var id in _tasks.Keys.Where(id => !kept.Contains(id)).ToList())
                {
                    Remove(id);
                }

                _secrets.Clear();
                _configs.Clear();
            }

            foreach (var change in message.Changes)
            {
                var remove = change.Action == AssignmentAction.Remove;
                var item = change.Assignment;
                switch (item?.ItemCase)
                {
                    case Assignment.ItemOneofCase.Task when remove:
                        Remove(item.Task.Id);
                        break;
                    case Assignment.ItemOneofCase.Task:
                        Assign(item.Task);
                        break;
                    case Assignment.ItemOneofCase.Secret when remove:
                        _secrets.Remove(item.Secret.Id);
                        break;
                    case Assignment.ItemOneofCase.Secret:
                        _secrets[item.Secret.Id] = item.Secret;
                        break;
                    case Assignment.ItemOneofCase.Config when remove:
                        _configs.Remove(item.Config.Id);
                        break;
                    case Assignment.ItemOneofCase.Config:
                        _configs[item.Config.Id] = item.Config;
                        break;
                    default:
                        break;
                }
            }

            _version = message.ResultsIn;
        }
    }

    /// <summary>
    /// The node leaves the swarm: stops and removes every task (processes, directories, logs, records) and completes
    /// when that is done. Assignments applied afterwards start from an empty set.
    /// </summary>
    public async Task RemoveAllAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken);
        lock (_lock)
        {
            foreach (var id in _tasks.Keys.ToList())
            {
                Remove(id);
            }

            _secrets.Clear();
            _configs.Clear();
            _version = string.Empty;
        }

        await WhenRemovedAsync(cancellationToken);
    }

    /// <summary>Completes when every removal started so far has ended.</summary>
    public Task WhenRemovedAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.WhenAll(_removals.Values).WaitAsync(cancellationToken);
        }
    }

    /// <summary>Stops the worker, leaving tasks as they are (processes keep running); queued reports are dropped (the
    /// task database keeps them for the next start).</summary>
    public async ValueTask DisposeAsync()
    {
        List<TaskManager> managers;
        List<Task> removals;
        lock (_lock)
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            _stop.Cancel();
            managers = [.. _tasks.Values];
            removals = [.. _removals.Values];
            _tasks.Clear();
        }

        foreach (var manager in managers)
        {
            await manager.DisposeAsync();
        }

        try
        {
            await Task.WhenAll(removals);
        }
        catch (OperationCanceledException)
        {
            // Interrupted removals resume from the task database at the next start.
        }

        await _reporter.DisposeAsync();
        _stop.Dispose();
    }

    private void Assign(SwarmTask task)
    {
        if (_removals.ContainsKey(task.Id))
        {
            return;
        }

        if (_tasks.TryGetValue(task.Id, out var manager))
        {
            manager.Update(task);
        }
        else
        {
            Add(task);
        }
    }

    private void Add(SwarmTask task)
    {
        var manager = new TaskManager(task, _executor, _db, _reporter, _time, _loggers.CreateLogger<TaskManager>());
        _tasks[task.Id] = manager;
        manager.Start();
    }

    private void Remove(string taskId)
    {
        if (!_tasks.Remove(taskId, out var manager))
        {
            return;
        }

        _removals[taskId] = RemoveAsync(manager);
    }

    private async Task RemoveAsync(TaskManager manager)
    {
        await Task.Yield();
        try
        {
            await manager.RemoveAsync(_stop.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
        {
            LogRemoveFailed(_logger, manager.TaskId, e.Message);
        }
        finally
        {
            lock (_lock)
            {
                _removals.Remove(manager.TaskId);
            }

            await manager.DisposeAsync();
        }
    }

    [LoggerMessage(EventId = 6100, Level = LogLevel.Information, Message = "Worker started with {Count} tasks from the task database")]
    private static partial void LogStarted(ILogger logger, int count);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Error, Message = "Task {TaskId}: removal failed ({Reason}); it is retried at the next agent start")]
    private static partial void LogRemoveFailed(ILogger logger, string taskId, string reason);
}
