using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Client;

namespace Shoal.Agent.Logs;

/// <summary>
/// The node's side of <c>docker service logs</c> (DESIGN §8, logs.proto): while the node has a session with a
/// manager it holds the log broker's <c>ListenSubscriptions</c> stream open on that manager (over its own mutual-TLS
/// channel, so a follower relays it to the leader), and for each subscription reads the named tasks' output files
/// under the tasks directory and sends their lines with <c>PublishLogs</c> in batches. Without follow it sends what
/// the files hold and closes; with follow it keeps tailing the files until the broker closes the subscription. It
/// listens again after any failure (with exponential backoff), and moves to the new manager whenever the session does.
/// </summary>
public sealed partial class LogAgent
{
    private readonly string _tasksDirectory;
    private readonly NodeSecurity _security;
    private readonly IManagerConnection _connection;
    private readonly LogAgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private TaskCompletionSource _sessionChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _attempt;
    private string? _attemptAddress;
    private int _running;
    private int _activeSubscriptions;
    private bool _listening;

    /// <param name="tasksDirectory">Where the executor keeps each task's directory (<c>&lt;data-dir&gt;/tasks</c>).</param>
    /// <param name="security">The node's certificate (its identity to the broker).</param>
    /// <param name="connection">Which manager the node's session is with (see <see cref="AgentSessionConnection"/>).</param>
    /// <param name="options">Polling, batching and retry settings; defaults when null.</param>
    /// <param name="timeProvider">The clock of polling and backoff.</param>
    /// <param name="logger">Where to log.</param>
    public LogAgent(
        string tasksDirectory,
        NodeSecurity security,
        IManagerConnection connection,
        LogAgentOptions? options = null,
        TimeProvider? timeProvider = null,
        ILogger<LogAgent>? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(tasksDirectory);
        ArgumentNullException.ThrowIfNull(security);
        ArgumentNullException.ThrowIfNull(connection);
        _options = options ?? new LogAgentOptions();
        _options.Validate();
        _tasksDirectory = tasksDirectory;
        _security = security;
        _connection = connection;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Whether the subscription stream is open now.</summary>
    public bool IsListening => Volatile.Read(ref _listening);

    /// <summary>Subscriptions being served now.</summary>
    public int ActiveSubscriptions => Volatile.Read(ref _activeSubscriptions);

    /// <summary>
    /// Listens for subscriptions until <paramref name="cancellationToken"/> is cancelled, through whichever manager
    /// the node's session is with. Returns when cancelled, with every subscription stopped.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            throw new InvalidOperationException("the log agent is already running");
        }

        _connection.SessionEstablished += OnSessionEstablished;
        try
        {
            var backoff = TimeSpan.Zero;
            while (!cancellationToken.IsCancellationRequested)
            {
                Task changed;
                lock (_lock)
                {
                    changed = _sessionChanged.Task;
                }

                var address = _connection.ManagerAddress;
                if (address is null)
                {
                    await WaitAsync(changed, _options.MaxBackoff, cancellationToken);
                    continue;
                }

                var listened = false;
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                lock (_lock)
                {
                    _attempt = attempt;
                    _attemptAddress = address;
                }

                try
                {
                    await ListenAsync(address, () => listened = true, attempt.Token);
                }
                catch (Exception) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception) when (attempt.IsCancellationRequested)
                {
                    // The session moved to another manager: follow it at once.
                    backoff = TimeSpan.Zero;
                    continue;
                }
                catch (Exception e)
                {
                    LogListenFailed(_logger, address, Describe(e));
                }
                finally
                {
                    lock (_lock)
                    {
                        _attempt = null;
                        _attemptAddress = null;
                    }
                }

                backoff = listened ? _options.InitialBackoff : Next(backoff);
                await WaitAsync(changed, backoff, cancellationToken);
            }
        }
        finally
        {
            _connection.SessionEstablished -= OnSessionEstablished;
            Volatile.Write(ref _running, 0);
        }
    }

    private void OnSessionEstablished(object? sender, SessionEstablishedEventArgs e)
    {
        CancellationTokenSource? moved = null;
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _sessionChanged;
            _sessionChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_attempt is not null && !string.Equals(_attemptAddress, e.ManagerAddress, StringComparison.Ordinal))
            {
                moved = _attempt;
                _attempt = null;
            }
        }

        changed.TrySetResult();
        try
        {
            moved?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The attempt ended meanwhile.
        }
    }

    /// <summary>Waits <paramref name="delay"/>, or less when the session changes.</summary>
    private async Task WaitAsync(Task changed, TimeSpan delay, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delayed = Task.Delay(delay, _time, wait.Token);
        await Task.WhenAny(changed, delayed);
        await wait.CancelAsync();
        try
        {
            await delayed;
        }
        catch (OperationCanceledException)
        {
            // Cut short: by a new session, or by the caller (whose loop then ends).
        }
    }

    private TimeSpan Next(TimeSpan backoff)
    {
        var next = backoff == TimeSpan.Zero ? _options.InitialBackoff : backoff * 2;
        return next > _options.MaxBackoff ? _options.MaxBackoff : next;
    }

    private async Task ListenAsync(string address, Action listened, CancellationToken cancellationToken)
    {
        using var channel = ClusterChannels.Create(address, _security);
        var client = new Shoal.Api.LogBroker.LogBrokerClient(channel);
        using var call = client.ListenSubscriptions(new ListenSubscriptionsRequest(), cancellationToken: cancellationToken);

        // The broker sends its headers once it registered this node's listener.
        await call.ResponseHeadersAsync.WaitAsync(cancellationToken);
        listened();
        Volatile.Write(ref _listening, true);
        LogListening(_logger, address);
        var serving = new Dictionary<string, SubscriptionWorker>(StringComparer.Ordinal);
        try
        {
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                var message = call.ResponseStream.Current;
                foreach (var done in serving.Where(s => s.Value.Completion.IsCompleted).Select(s => s.Key).ToList())
                {
                    serving.Remove(done);
                }

                if (message.Close)
                {
                    if (serving.Remove(message.Id, out var closed))
                    {
                        await closed.StopAsync();
                    }

                    continue;
                }

                var taskIds = message.Selector?.TaskIds ?? [];
                if (serving.TryGetValue(message.Id, out var running))
                {
                    // The same subscription again: tasks were assigned to this node since (with follow).
                    running.Add(taskIds);
                    continue;
                }

                var worker = new SubscriptionWorker(this, client, message.Id, message.Options ?? new LogSubscriptionOptions { Tail = -1 }, taskIds, cancellationToken);
                serving[message.Id] = worker;
                worker.Start();
            }

            throw new IOException($"manager {address} ended the log subscription stream");
        }
        finally
        {
            Volatile.Write(ref _listening, false);
            foreach (var worker in serving.Values)
            {
                await worker.StopAsync();
            }
        }
    }

    /// <summary>Task IDs are base36 object IDs; anything else could name a path outside the tasks directory.</summary>
    private static bool IsTaskId(string id) =>
        id.Length is > 0 and <= 64 && id.All(char.IsAsciiLetterOrDigit);

    private static string Describe(Exception e) => e is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : e.Message;
}
