using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;

namespace Shoal.Agent;

/// <summary>
/// Sends task status updates in batches: <see cref="Enqueue"/> never waits; one loop hands everything queued to the
/// send function, and while a send is in flight new updates gather (one per task: the furthest state, the latest
/// among equals) for the next one. A failed send is retried after a pause, keeping any newer update of the same task.
/// </summary>
public sealed partial class StatusReporter : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<TaskStatusUpdate>, CancellationToken, Task> _send;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, TaskStatusUpdate> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    /// <param name="send">Delivers one batch; completes when it was accepted (e.g. <see cref="AgentSession.ReportStatusAsync"/>).</param>
    /// <param name="timeProvider">The clock of retry pauses.</param>
    /// <param name="logger">Where to log failed sends.</param>
    public StatusReporter(Func<IReadOnlyList<TaskStatusUpdate>, CancellationToken, Task> send, TimeProvider? timeProvider = null, ILogger<StatusReporter>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(send);
        _send = send;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The pause before a failed batch is sent again.</summary>
    /// <value>1 s.</value>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Updates queued and not yet handed to the send function.</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Starts the send loop (once).</summary>
    public void Start()
    {
        lock (_lock)
        {
            _loop ??= Task.Run(() => RunAsync(_stop.Token));
        }
    }

    /// <summary>Queues an update; a queued update of the same task at an earlier state is replaced.</summary>
    public void Enqueue(TaskStatusUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        lock (_lock)
        {
            Merge(update, replaceEqual: true);
        }

        _signal.Release();
    }

    /// <summary>Stops the loop; updates still queued are dropped (the task database holds them for the next start).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                // Stopping: a send interrupted midway is retried from the task database at the next start.
            }
        }

        _stop.Dispose();
        _signal.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _signal.WaitAsync(cancellationToken);
            List<TaskStatusUpdate> batch;
            lock (_lock)
            {
                batch = [.. _pending.Values];
                _pending.Clear();
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                await _send(batch, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                LogSendFailed(_logger, batch.Count, e.Message);
                lock (_lock)
                {
                    foreach (var update in batch)
                    {
                        Merge(update, replaceEqual: false);
                    }
                }

                await Task.Delay(RetryDelay, _time, cancellationToken);
                _signal.Release();
            }
        }
    }

    /// <summary>Keeps the furthest update of each task; <paramref name="replaceEqual"/> when the update is the newer one.</summary>
    private void Merge(TaskStatusUpdate update, bool replaceEqual)
    {
        if (!_pending.TryGetValue(update.TaskId, out var queued) || update.Status.State > queued.Status.State
            || (replaceEqual && update.Status.State == queued.Status.State))
        {
            _pending[update.TaskId] = update;
        }
    }

    [LoggerMessage(EventId = 6110, Level = LogLevel.Warning, Message = "Reporting {Count} task statuses failed ({Reason}); retrying")]
    private static partial void LogSendFailed(ILogger logger, int count, string reason);
}
