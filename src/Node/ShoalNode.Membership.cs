using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Shoal.Agent;
using Shoal.Agent.Executors;
using Shoal.Agent.Executors.Process;
using Shoal.Agent.Logs;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Manager;

namespace Shoal.Node;

public sealed partial class ShoalNode
{
    /// <summary>
    /// The node's life in one swarm: its credentials, the agent's session, the certificate renewer, and the manager
    /// part with a control client to it while the node is a manager. Disposed on leave and on shutdown.
    /// </summary>
    private sealed class Membership : IAsyncDisposable
    {
        private readonly ShoalNode _owner;
        private readonly CancellationTokenSource _stop = new();
        private readonly Lock _lock = new();
        private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
        private readonly CertificateRenewer _renewer;
        private SwarmManager? _manager;
        private GrpcChannel? _controlChannel;
        private Control.ControlClient? _control;
        private readonly LogAgent _logs;
        private Task _sessionRun = Task.CompletedTask;
        private Task _renewerRun = Task.CompletedTask;
        private Task _logsRun = Task.CompletedTask;
        private int _stopped;

        public Membership(ShoalNode owner, NodeSecurity security, NodeStateFile state, IReadOnlyList<string> managers)
        {
            _owner = owner;
            Security = security;
            State = state;
            var options = owner._options;
            var executor = options.Executor?.Invoke(options.DataDirectory) ?? ProcessExecutorOf(options);
            Worker = new Worker(
                new WorkerOptions { DataDirectory = options.DataDirectory },
                executor,
                (updates, ct) => Session!.ReportStatusAsync(updates, ct),
                options.TimeProvider,
                options.LoggerFactory);
            Session = new AgentSession(
                security,
                new AgentOptions { Managers = managers },
                Worker,
                new ExecutorDescriptionProvider(executor, owner._host),
                options.TimeProvider,
                options.LoggerFactory.CreateLogger<AgentSession>());
            _logs = new LogAgent(
                Path.Combine(options.DataDirectory, "tasks"),
                security,
                new AgentSessionConnection(Session),
                timeProvider: options.TimeProvider,
                logger: options.LoggerFactory.CreateLogger<LogAgent>());
            _renewer = new CertificateRenewer(
                security,
                CertificatesOf(options.DataDirectory),
                ManagerInvoker,
                logger: options.LoggerFactory.CreateLogger<CertificateRenewer>());
            Session.NodeChanged += OnNodeChanged;
            Session.SessionEstablished += OnSessionEstablished;
            Session.SessionFailed += OnSessionFailed;
            security.Changed += OnCredentialsChanged;
        }

        public NodeSecurity Security { get; }

        public NodeStateFile State { get; }

        public AgentSession Session { get; }

        /// <summary>The node's assignments, run by the process executor (DESIGN §9).</summary>
        public Worker Worker { get; }

        public SwarmManager? Manager
        {
            get
            {
                lock (_lock)
                {
                    return _manager;
                }
            }
        }

        public Control.ControlClient? Control
        {
            get
            {
                lock (_lock)
                {
                    return _control;
                }
            }
        }

        public void Start()
        {
            _sessionRun = Task.Run(async () =>
            {
                // Tasks that ran before a restart are re-adopted (or their end learnt) before the first assignments.
                await Worker.StartAsync(_stop.Token).ConfigureAwait(false);
                await Session.RunAsync(_stop.Token).ConfigureAwait(false);
            });
            _renewerRun = Task.Run(() => _renewer.RunAsync(_stop.Token));
            _logsRun = Task.Run(() => _logs.RunAsync(_stop.Token));
        }

        /// <summary>
        /// Leaving the swarm: the session ends (no new assignments), then every task is stopped and removed with its
        /// directory and record, as Docker removes a leaving node's service containers. Bounded by
        /// <paramref name="cancellationToken"/>; what is not stopped by then keeps running under its shim.
        /// </summary>
        public async Task StopTasksAsync(CancellationToken cancellationToken)
        {
            await StopLoopsAsync().ConfigureAwait(false);
            await Worker.RemoveAllAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Sets (or clears) the manager part and the control client that reaches it.</summary>
        public void SetManager(SwarmManager? manager)
        {
            GrpcChannel? old;
            lock (_lock)
            {
                old = _controlChannel;
                _manager = manager;
                _controlChannel = manager is null ? null : ClusterChannels.Create(LocalAddress(manager), Security);
                _control = _controlChannel is null ? null : new Control.ControlClient(_controlChannel);
            }

            old?.Dispose();
            if (manager is not null)
            {
                _owner.WatchRaft(this, manager);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Security.Changed -= OnCredentialsChanged;
            Session.NodeChanged -= OnNodeChanged;
            Session.SessionEstablished -= OnSessionEstablished;
            Session.SessionFailed -= OnSessionFailed;
            await StopLoopsAsync().ConfigureAwait(false);

            // Tasks keep running under their shims: the next agent on this data directory takes them over.
            await Worker.DisposeAsync().ConfigureAwait(false);
            Session.Dispose();
            var manager = Manager;
            SetManager(null);
            if (manager is not null)
            {
                await manager.DisposeAsync().ConfigureAwait(false);
            }

            lock (_lock)
            {
                foreach (var channel in _channels.Values)
                {
                    channel.Dispose();
                }

                _channels.Clear();
            }

            _stop.Dispose();
        }

        private static ProcessExecutor ProcessExecutorOf(NodeOptions options)
        {
            if (OperatingSystem.IsWindows())
            {
                throw new PlatformNotSupportedException("Shoal's process executor runs tasks on Linux and other Unix systems only");
            }

            return new ProcessExecutor(
                new ProcessExecutorOptions { DataDirectory = options.DataDirectory },
                options.TimeProvider,
                options.LoggerFactory.CreateLogger<ProcessExecutor>());
        }

        private async Task StopLoopsAsync()
        {
            if (Interlocked.Exchange(ref _stopped, 1) == 1)
            {
                return;
            }

            await _stop.CancelAsync().ConfigureAwait(false);
            await _sessionRun.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await _renewerRun.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await _logsRun.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        /// <summary>The manager's own port as this process dials it (loopback when it listens on every interface).</summary>
        private static string LocalAddress(SwarmManager manager)
        {
            var address = manager.Port.Address;
            var host = address.Host is "0.0.0.0" or "[::]" or "::" ? "127.0.0.1" : address.Host;
            return $"{host}:{address.Port}";
        }

        /// <summary>A call invoker to the manager the session holds now (else the first one known), for renewals.</summary>
        private CallInvoker ManagerInvoker()
        {
            var managers = Session.Managers;
            var address = Session.ManagerAddress ?? (managers.Count > 0 ? managers[0].Addr : null)
                ?? throw new InvalidOperationException("no manager is known to renew the certificate with");
            lock (_lock)
            {
                if (!_channels.TryGetValue(address, out var channel))
                {
                    channel = ClusterChannels.Create(address, Security);
                    _channels[address] = channel;
                }

                return channel.CreateCallInvoker();
            }
        }

        /// <summary>The dispatcher sent the node object: a role that differs from the certificate's needs a new one.</summary>
        private void OnNodeChanged(object? sender, Api.Node node)
        {
            if (node.Role != Security.Current.Role)
            {
                _renewer.RenewSoon();
            }
        }

        private void OnCredentialsChanged(NodeCredentials credentials) => _owner.ScheduleRoleReconcile();

        /// <summary>A refusal of this node's certificate (removed from the swarm) puts the node in the error state.</summary>
        private void OnSessionFailed(object? sender, Exception e)
        {
            if (e is RpcException { StatusCode: StatusCode.PermissionDenied or StatusCode.NotFound } refused
                && refused.Status.Detail.Contains("removed from the swarm", StringComparison.Ordinal))
            {
                _owner.SetError($"{refused.Status.Detail}: run `swarm leave --force` on this node, then join it again with a token");
            }
        }

        /// <summary>Remembers the managers the dispatcher named, so that a restart reconnects through them.</summary>
        private void OnSessionEstablished(object? sender, SessionEstablishedEventArgs e)
        {
            _owner.ClearError();
            var managers = Session.Managers.Select(m => m.Addr).Where(a => !string.IsNullOrEmpty(a)).ToList();
            if (managers.Count == 0 || managers.SequenceEqual(State.Managers))
            {
                return;
            }

            try
            {
                State.Managers = managers;
                State.Save(_owner._options.DataDirectory);
            }
            catch (IOException ex)
            {
                LogStateNotSaved(_owner._logger, ex);
            }
        }
    }

    [LoggerMessage(EventId = 9010, Level = LogLevel.Warning, Message = "Could not record the managers' addresses in node.json")]
    private static partial void LogStateNotSaved(ILogger logger, Exception exception);
}
