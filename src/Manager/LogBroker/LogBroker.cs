using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Store;

namespace Shoal.Manager.LogBroker;

/// <summary>
/// The leader's log broker (DESIGN §8, logs.proto): turns a client's subscription (services, tasks, nodes) into one
/// subscription per node that runs a selected task, sends it down that node's <c>ListenSubscriptions</c> stream, and
/// relays the lines the nodes publish to the client, each labelled with its node, service and task. Without follow the
/// client's stream ends once every node involved said it sent all it had — or could not be reached: a node without a
/// listener is waited for <see cref="LogBrokerOptions.NodeListenTimeout"/>, a node that is DOWN not at all. With follow
/// it stays open, takes in tasks of the selected services or nodes assigned later, and on the client's cancellation
/// tells the nodes to stop. All state is in memory; the broker serves only between <see cref="RunAsync"/> being
/// started (on gaining leadership) and cancelled (on losing it), and every call fails with Unavailable otherwise.
/// Calls to its methods are at the gRPC boundary, so refusals are <see cref="RpcException"/>s.
/// </summary>
public sealed partial class LogBroker
{
    private const string NotRunningMessage = "the log broker is not running on this manager (it runs on the leader); retry";
    private readonly MemoryStore _store;
    private readonly LogBrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, NodeListener> _listeners = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private bool _running;

    /// <param name="store">The manager's store: where selectors are resolved to tasks and nodes.</param>
    /// <param name="options">Waits and buffer sizes; defaults when null.</param>
    /// <param name="timeProvider">The clock of the waits.</param>
    /// <param name="logger">Where to log.</param>
    public LogBroker(MemoryStore store, LogBrokerOptions? options = null, TimeProvider? timeProvider = null, ILogger<LogBroker>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new LogBrokerOptions();
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Whether the broker is serving.</summary>
    public bool IsRunning
    {
        get
        {
            lock (_lock)
            {
                return _running;
            }
        }
    }

    /// <summary>Client subscriptions open now.</summary>
    public int SubscriptionCount
    {
        get
        {
            lock (_lock)
            {
                return _subscriptions.Count;
            }
        }
    }

    /// <summary>Whether <paramref name="nodeId"/> has a subscription listener open now.</summary>
    public bool IsListening(string nodeId)
    {
        lock (_lock)
        {
            return _listeners.ContainsKey(nodeId);
        }
    }

    /// <summary>
    /// Serves until <paramref name="cancellationToken"/> is cancelled (leadership lost); then every listener and
    /// client stream ends with Unavailable, so that nodes and clients go to the new leader.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_running)
            {
                throw new InvalidOperationException("the log broker is already running");
            }

            _running = true;
        }

        LogStarted(_logger);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _time, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            List<NodeListener> listeners;
            List<Subscription> subscriptions;
            lock (_lock)
            {
                _running = false;
                listeners = [.. _listeners.Values];
                subscriptions = [.. _subscriptions.Values];
                _listeners.Clear();
                _subscriptions.Clear();
            }

            var stopped = new RpcException(new Status(StatusCode.Unavailable, "this manager stopped leading, which ended the log stream; retry to reach the new leader"));
            foreach (var listener in listeners)
            {
                listener.End(stopped);
            }

            foreach (var subscription in subscriptions)
            {
                subscription.Fail(stopped);
            }

            LogStopped(_logger);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Streams the logs <paramref name="request"/> selects to <paramref name="stream"/> (the control API's
    /// <c>SubscribeLogs</c>). Fails with NotFound, before anything is written, when a named service, task or node does
    /// not exist; with InvalidArgument when nothing is selected.
    /// </summary>
    public Task SubscribeAsync(SubscribeLogsRequest request, IServerStreamWriter<SubscribeLogsMessage> stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return SubscribeAsync(request, (m, ct) => stream.WriteAsync(m, ct), null, cancellationToken);
    }

    /// <summary>
    /// The control API's <c>SubscribeLogs</c>: as <see cref="SubscribeAsync(SubscribeLogsRequest, IServerStreamWriter{SubscribeLogsMessage}, CancellationToken)"/>,
    /// and once the subscription is accepted the call's response headers are sent, so that a caller waiting for them
    /// (the Docker API answers 200 then) is not kept waiting for the first line.
    /// </summary>
    public Task SubscribeAsync(SubscribeLogsRequest request, IServerStreamWriter<SubscribeLogsMessage> stream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(context);
        return SubscribeAsync(request, (m, ct) => stream.WriteAsync(m, ct), () => context.WriteResponseHeadersAsync(new Metadata()), context.CancellationToken);
    }

    /// <inheritdoc cref="SubscribeAsync(SubscribeLogsRequest, IServerStreamWriter{SubscribeLogsMessage}, CancellationToken)"/>
    /// <param name="request">What to stream.</param>
    /// <param name="send">Writes one message to the client.</param>
    /// <param name="accepted">Called once the selector is resolved and the subscription sent to the nodes.</param>
    /// <param name="cancellationToken">The client's token: cancelling it ends the subscription.</param>
    public async Task SubscribeAsync(SubscribeLogsRequest request, Func<SubscribeLogsMessage, CancellationToken, Task> send, Func<Task>? accepted, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(send);
        var selector = request.Selector ?? new LogSelector();
        // No options at all: everything the files hold (a tail of 0 would be nothing), without follow.
        var options = request.Options ?? new LogSubscriptionOptions { Tail = -1 };
        if (selector.ServiceIds.Count + selector.TaskIds.Count + selector.NodeIds.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "a log subscription must select at least one service, task or node"));
        }

        lock (_lock)
        {
            ThrowIfNotRunning();
        }

        // With follow, tasks of the selected services or nodes assigned later join the subscription: the watch starts
        // at the very view the selector is resolved in, so none is missed.
        var followNew = options.Follow && (selector.ServiceIds.Count > 0 || selector.NodeIds.Count > 0);
        ReadTransaction view;
        StoreWatcher? watcher = null;
        if (followNew)
        {
            var services = selector.ServiceIds.ToHashSet(StringComparer.Ordinal);
            var nodes = selector.NodeIds.ToHashSet(StringComparer.Ordinal);
            (view, watcher) = _store.ViewAndWatch(new WatchOptions
            {
                Filter = StoreEventFilters.Of<SwarmTask>(StoreEventKinds.Create | StoreEventKinds.Update,
                    t => t.NodeId.Length > 0 && (services.Contains(t.ServiceId) || nodes.Contains(t.NodeId))),
            });
        }
        else
        {
            view = _store.View();
        }

        using var watch = watcher;
        var subscription = new Subscription(Identity.NewId(), options, _options.ClientBufferBatches);
        foreach (var task in Resolve(view, selector))
        {
            subscription.AddTask(task);
        }

        var skipped = new List<string>();
        lock (_lock)
        {
            ThrowIfNotRunning();
            _subscriptions[subscription.Id] = subscription;
            foreach (var part in subscription.Nodes.Values)
            {
                if (_listeners.TryGetValue(part.NodeId, out var listener))
                {
                    Send(listener, subscription, part);
                }
                else if (!options.Follow && (view.Nodes.Get(part.NodeId) is not { } node || node.Status?.State == NodeState.Down))
                {
                    // Removed or DOWN: nothing will come from it.
                    part.State = PartState.Done;
                    skipped.Add(part.NodeId);
                }
                else if (!options.Follow)
                {
                    part.Timer = GiveUpAfter(subscription, part, PartState.Waiting, _options.NodeListenTimeout);
                }
            }

            CompleteIfDone(subscription);
        }

        LogSubscribed(_logger, subscription.Id, subscription.TaskCount, subscription.Nodes.Count, options.Follow);
        foreach (var node in skipped)
        {
            LogNodeSkipped(_logger, subscription.Id, node, "it is down or no longer in the swarm");
        }

        using var watching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, subscription.Aborted.Token);
        var followTask = watch is null ? Task.CompletedTask : FollowNewTasksAsync(subscription, watch, watching.Token);
        try
        {
            if (accepted is not null)
            {
                await accepted();
            }

            await foreach (var message in subscription.Output.Reader.ReadAllAsync(writing.Token))
            {
                await send(message, writing.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && subscription.Failure is { } failure)
        {
            throw failure;
        }
        finally
        {
            await watching.CancelAsync();
            try
            {
                await followTask;
            }
            catch (Exception e) when (e is OperationCanceledException or WatcherOverflowException or System.Threading.Channels.ChannelClosedException)
            {
                // Cancelled above, or the watch fell behind (new tasks were no longer followed; logged there).
            }

            End(subscription);
        }
    }

    /// <summary>
    /// Streams to <paramref name="nodeId"/> the subscriptions it must serve (its <c>ListenSubscriptions</c>): those
    /// waiting for it at once, then each new one, until <paramref name="cancellationToken"/> (the node went away), the
    /// broker stops, or a newer listener of the same node replaces this one.
    /// </summary>
    /// <param name="nodeId">The calling node, from its certificate.</param>
    /// <param name="send">Writes one message to the node.</param>
    /// <param name="registered">Called once the listener is registered (the service sends its response headers then).</param>
    /// <param name="cancellationToken">The call's token.</param>
    public async Task ListenAsync(string nodeId, Func<SubscriptionMessage, CancellationToken, Task> send, Func<Task>? registered, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeId);
        ArgumentNullException.ThrowIfNull(send);
        var listener = new NodeListener(nodeId, _options.ListenerBufferMessages);
        NodeListener? replaced;
        lock (_lock)
        {
            ThrowIfNotRunning();
            if (_listeners.TryGetValue(nodeId, out replaced))
            {
                Detach(nodeId);
            }

            _listeners[nodeId] = listener;
            foreach (var subscription in _subscriptions.Values)
            {
                if (subscription.Nodes.TryGetValue(nodeId, out var part) && part.State == PartState.Waiting)
                {
                    Send(listener, subscription, part);
                }
            }
        }

        replaced?.End(null);
        LogListening(_logger, nodeId);
        try
        {
            if (registered is not null)
            {
                await registered();
            }

            await foreach (var message in listener.Queue.Reader.ReadAllAsync(cancellationToken))
            {
                await send(message, cancellationToken);
            }
        }
        finally
        {
            lock (_lock)
            {
                if (_listeners.TryGetValue(nodeId, out var current) && ReferenceEquals(current, listener))
                {
                    _listeners.Remove(nodeId);
                    Detach(nodeId);
                }
            }

            LogListenerGone(_logger, nodeId);
        }
    }

    /// <summary>
    /// Takes a batch <paramref name="nodeId"/> publishes for a subscription. Refused (PermissionDenied) when the
    /// subscription did not ask that node for every task the batch names; NotFound once the subscription is over.
    /// Waits for room while the client reads slowly, at most <see cref="LogBrokerOptions.PublishTimeout"/>; then the
    /// subscription ends with ResourceExhausted for its client.
    /// </summary>
    public async Task PublishAsync(string nodeId, PublishLogsRequest request, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeId);
        ArgumentNullException.ThrowIfNull(request);
        Subscription subscription;
        SubscribeLogsMessage batch;
        lock (_lock)
        {
            ThrowIfNotRunning();
            if (!_subscriptions.TryGetValue(request.SubscriptionId, out subscription!))
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"log subscription {request.SubscriptionId} is over (its client went away or the leader changed); stop sending for it"));
            }

            if (!subscription.Nodes.TryGetValue(nodeId, out var part))
            {
                throw new RpcException(new Status(StatusCode.PermissionDenied, $"node {nodeId} was not asked for logs by subscription {request.SubscriptionId}"));
            }

            if (part.State != PartState.Sent)
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"log subscription {request.SubscriptionId} takes nothing more from node {nodeId} (it closed, or was given up)"));
            }

            // The node is alive and sending: its silence is counted from now.
            part.Timer?.Change(_options.NodeIdleTimeout, Timeout.InfiniteTimeSpan);
            batch = new SubscribeLogsMessage();
            foreach (var message in request.Messages)
            {
                var taskId = message.Context?.TaskId ?? string.Empty;
                if (!part.TaskIds.Contains(taskId))
                {
                    throw new RpcException(new Status(StatusCode.PermissionDenied,
                        $"node {nodeId} may not publish logs of task \"{taskId}\" in subscription {request.SubscriptionId}: the subscription did not ask this node for that task"));
                }

                var labelled = message.Clone();
                labelled.Context = new LogContext { TaskId = taskId, NodeId = nodeId, ServiceId = subscription.ServiceOf(taskId) };
                batch.Messages.Add(labelled);
                if (message.Timestamp is { } timestamp && (part.LastTimestamp is null || timestamp.ToDateTimeOffset() > part.LastTimestamp))
                {
                    part.LastTimestamp = timestamp.ToDateTimeOffset();
                }
            }
        }

        if (batch.Messages.Count > 0)
        {
            await WriteAsync(subscription, batch, cancellationToken);
        }

        if (request.Close)
        {
            lock (_lock)
            {
                if (subscription.Nodes.TryGetValue(nodeId, out var part) && part.State == PartState.Sent)
                {
                    part.State = PartState.Done;
                    CompleteIfDone(subscription);
                }
            }
        }
    }

    private async Task WriteAsync(Subscription subscription, SubscribeLogsMessage batch, CancellationToken cancellationToken)
    {
        if (subscription.Output.Writer.TryWrite(batch))
        {
            return;
        }

        using var timeout = new CancellationTokenSource(_options.PublishTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await subscription.Output.Writer.WriteAsync(batch, linked.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            LogClientTooSlow(_logger, subscription.Id, _options.PublishTimeout.TotalSeconds);
            subscription.Fail(new RpcException(new Status(StatusCode.ResourceExhausted,
                $"the log stream was ended: its reader took more than {_options.PublishTimeout.TotalSeconds:0.#} s to take buffered lines; read faster or select fewer tasks")));
            throw new RpcException(new Status(StatusCode.NotFound, $"log subscription {subscription.Id} ended: its client read too slowly"));
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"log subscription {subscription.Id} is over; stop sending for it"));
        }
    }

    /// <summary>Adds tasks of the selected services or nodes as they are assigned (follow only).</summary>
    private async Task FollowNewTasksAsync(Subscription subscription, StoreWatcher watcher, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var e in watcher.ReadAllAsync(cancellationToken))
            {
                if (e.Target is not SwarmTask task)
                {
                    continue;
                }

                lock (_lock)
                {
                    if (!_subscriptions.ContainsKey(subscription.Id) || !subscription.AddTask(task))
                    {
                        continue;
                    }

                    var part = subscription.Nodes[task.NodeId];
                    if (part.State != PartState.Done && _listeners.TryGetValue(task.NodeId, out var listener))
                    {
                        // A node already serving gets the same subscription again with its new task list.
                        Send(listener, subscription, part);
                    }
                }
            }
        }
        catch (WatcherOverflowException)
        {
            LogFollowOverflow(_logger, subscription.Id);
            throw;
        }
    }

    /// <summary>The tasks a selector names, with a node (tasks never assigned have no logs).</summary>
    private static List<SwarmTask> Resolve(ReadTransaction view, LogSelector selector)
    {
        var tasks = new Dictionary<string, SwarmTask>(StringComparer.Ordinal);
        foreach (var serviceId in selector.ServiceIds.Distinct(StringComparer.Ordinal))
        {
            if (view.Services.Get(serviceId) is null)
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"service {serviceId} not found"));
            }

            foreach (var task in view.Tasks.ByService(serviceId))
            {
                tasks.TryAdd(task.Id, task);
            }
        }

        foreach (var taskId in selector.TaskIds.Distinct(StringComparer.Ordinal))
        {
            var task = view.Tasks.Get(taskId) ?? throw new RpcException(new Status(StatusCode.NotFound, $"task {taskId} not found"));
            tasks.TryAdd(task.Id, task);
        }

        foreach (var nodeId in selector.NodeIds.Distinct(StringComparer.Ordinal))
        {
            if (view.Nodes.Get(nodeId) is null)
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"node {nodeId} not found"));
            }

            foreach (var task in view.Tasks.ByNode(nodeId))
            {
                tasks.TryAdd(task.Id, task);
            }
        }

        return [.. tasks.Values.Where(t => t.NodeId.Length > 0)];
    }

    /// <summary>Sends the subscription (its tasks on this node) to the node's listener. Under the lock.</summary>
    private void Send(NodeListener listener, Subscription subscription, NodePart part)
    {
        var message = new SubscriptionMessage { Id = subscription.Id, Options = subscription.Options.Clone(), Selector = new LogSelector() };
        message.Selector.TaskIds.AddRange(part.TaskIds.Order(StringComparer.Ordinal));
        if (part.LastTimestamp is { } last)
        {
            // Sent again after the node listened anew (follow): resume after the last line it sent, not from the start.
            var resume = last.AddTicks(10);
            if (message.Options.Since is null || message.Options.Since.ToDateTimeOffset() < resume)
            {
                message.Options.Since = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(resume);
            }

            message.Options.Tail = -1;
        }

        part.Timer?.Dispose();
        part.State = PartState.Sent;
        part.Timer = subscription.Options.Follow ? null : GiveUpAfter(subscription, part, PartState.Sent, _options.NodeIdleTimeout);
        if (!listener.Queue.Writer.TryWrite(message))
        {
            LogListenerTooSlow(_logger, listener.NodeId);
            listener.End(new RpcException(new Status(StatusCode.ResourceExhausted, "too many log subscriptions waiting for this node; listen again")));
        }
    }

    /// <summary>
    /// The node's listener ended or was replaced. Under the lock. Subscriptions without follow give it up (what it sent
    /// is all they get from it); with follow they wait to send it again when it listens anew.
    /// </summary>
    private void Detach(string nodeId)
    {
        foreach (var subscription in _subscriptions.Values)
        {
            if (!subscription.Nodes.TryGetValue(nodeId, out var part) || part.State != PartState.Sent)
            {
                continue;
            }

            if (subscription.Options.Follow)
            {
                part.State = PartState.Waiting;
            }
            else
            {
                part.State = PartState.Done;
                LogNodeSkipped(_logger, subscription.Id, nodeId, "its listener went away");
                CompleteIfDone(subscription);
            }
        }
    }

    /// <summary>
    /// Without follow, a node is given up if it does not listen (while waiting), or goes silent without closing (once
    /// sent), for <paramref name="wait"/>: the client's stream must end even if a node never answers. The timer gives
    /// it up only if it is still in the <paramref name="expected"/> state then.
    /// </summary>
    private ITimer GiveUpAfter(Subscription subscription, NodePart part, PartState expected, TimeSpan wait) =>
        _time.CreateTimer(static s => ((Action)s!)(), (Action)(() => GiveUp(subscription, part, expected, wait)), wait, Timeout.InfiniteTimeSpan);

    private void GiveUp(Subscription subscription, NodePart part, PartState expected, TimeSpan waited)
    {
        lock (_lock)
        {
            if (part.State != expected || !_subscriptions.ContainsKey(subscription.Id))
            {
                return;
            }

            part.State = PartState.Done;
            CompleteIfDone(subscription);
        }

        if (expected == PartState.Waiting)
        {
            LogNodeNotListening(_logger, subscription.Id, part.NodeId, waited.TotalSeconds);
        }
        else
        {
            LogNodeSilent(_logger, subscription.Id, part.NodeId, waited.TotalSeconds);
        }
    }

    /// <summary>Ends the client's stream once every node is done (never with follow). Under the lock.</summary>
    private static void CompleteIfDone(Subscription subscription)
    {
        if (!subscription.Options.Follow && subscription.Nodes.Values.All(p => p.State == PartState.Done))
        {
            subscription.Output.Writer.TryComplete();
        }
    }

    /// <summary>The client went away or its stream ended: forget the subscription and tell the nodes serving it.</summary>
    private void End(Subscription subscription)
    {
        lock (_lock)
        {
            _subscriptions.Remove(subscription.Id);
            foreach (var part in subscription.Nodes.Values)
            {
                part.Timer?.Dispose();
                part.Timer = null;
                if (part.State == PartState.Sent && _listeners.TryGetValue(part.NodeId, out var listener))
                {
                    listener.Queue.Writer.TryWrite(new SubscriptionMessage { Id = subscription.Id, Close = true });
                }

                part.State = PartState.Done;
            }
        }

        LogUnsubscribed(_logger, subscription.Id);
    }

    /// <summary>Refuses calls while the broker does not run. Under the lock.</summary>
    private void ThrowIfNotRunning()
    {
        if (!_running)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, NotRunningMessage));
        }
    }
}
