using Shoal.Cli;

return await ShoalCli.RunAsync(args, CliEnvironment.FromConsole()).ConfigureAwait(false);
