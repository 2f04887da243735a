cwlVersion: v1.2
$graph:
  - class: Workflow
    id: main
    label: Classify a tile
    inputs:
      tile: {type: File}
      reference: {type: File}
    outputs:
      logits: {type: File, outputSource: classify/logits}
    steps:
      classify:
        run: '#classify'
        in: {tile: tile, reference: reference}
        out: [logits]
  - class: CommandLineTool
    id: classify
    doc: Stands in for a tool that runs the model; writes the logits it was given as logits.npy.
    requirements:
      DockerRequirement: {dockerPull: local/python:3.11-bookworm}
    baseCommand: [python3, -c, "import shutil, sys; shutil.copy(sys.argv[2], 'logits.npy')"]
    inputs:
      tile: {type: File, inputBinding: {position: 1}}
      reference: {type: File, inputBinding: {position: 2}}
    outputs:
      logits: {type: File, outputBinding: {glob: logits.npy}}
